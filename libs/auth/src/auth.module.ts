import { Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BusClient } from '@borealis/messaging';
import { AccessGuard } from './access/access.guard';
import { AccountsService } from './accounts/accounts.service';
import { PasswordHasher } from './accounts/password-hasher';
import { AccountsController } from './admin/accounts.controller';
import { DocsController } from './admin/docs.controller';
import { ManagementDocs } from './admin/management-docs';
import { MANAGEMENT_CONTROLLERS } from './admin/management-routes';
import { OperatorController } from './admin/operator.controller';
import { OrganizationAdmin } from './admin/organization-admin.service';
import { OrganizationsController } from './admin/organizations.controller';
import { ProjectsController } from './admin/projects.controller';
import { RegistryAdmin } from './admin/registry-admin.service';
import { AUTH_OPTIONS, checkAuthOptions, type AuthModuleOptions } from './auth-options';
import { ConsolePushController } from './console/console-push.controller';
import { ConsoleSessionController } from './console/console-session.controller';
import { OperatorOverviewService } from './console/operator-overview.service';
import { HttpPushCoreReads, PushCoreReads } from './console/push-core-reads';
import { ConsoleTestSend } from './console/test-send.service';
import { ConsoleSessions } from './console/console-sessions.service';
import { CsrfTokens } from './console/csrf';
import { AUTH_CONNECTION } from './persistence/database';
import { AUTH_ENTITIES } from './persistence/entities';
import { AuthInitial1764300000000 } from './persistence/migrations/1764300000000-auth-initial';
import { AuthAccounts1764400000000 } from './persistence/migrations/1764400000000-auth-accounts';
import { RegistrationSecrets1765100000000 } from './persistence/migrations/1765100000000-registration-secrets';
import { OperatorSessions1765200000000 } from './persistence/migrations/1765200000000-operator-sessions';
import { sealedSigningKeysMigration } from './persistence/migrations/1765000000000-sealed-signing-keys';
import { TypeOrmClientDirectory } from './persistence/typeorm-client-directory';
import { TypeOrmSigningKeyStore } from './persistence/typeorm-signing-key-store';
import { KeyExpiryAnnouncer } from './registry/key-expiry';
import { RegistryOutboxRelay } from './registry/registry-outbox-relay';
import { SigningKeyCipher } from './signing/signing-key-cipher';
import { SigningKeyStore, SigningKeys } from './signing/signing-keys';
import { WellKnownController } from './signing/well-known.controller';
import { ClientAssertionVerifier } from './token/client-assertion';
import { ClientDirectory } from './token/client-directory';
import { TokenRateLimits } from './token/token-rate-limits';
import { TokenController } from './token/token.controller';
import { TokenService } from './token/token.service';

/** The management API (/auth/admin/v1): every route declares its access rule. */
export const MANAGEMENT_API = [AccountsController, ConsoleSessionController, OrganizationsController, ProjectsController, ConsolePushController, OperatorController, DocsController];

/**
 * The auth service: developer accounts, organizations (tenants) with roles, projects, service
 * accounts and applications; the OAuth2 token endpoint, JWKS and discovery; the management API;
 * registry events. Needs `MessageBus`, `ReplayGuard`, `RateLimiter` and `Clock` provided globally
 * by the platform.
 */
@Module({})
export class AuthModule {
  static register(options: AuthModuleOptions): DynamicModule {
    checkAuthOptions(options);
    const cipher = new SigningKeyCipher(options.signingKeyEncryptionKey);
    return {
      module: AuthModule,
      imports: [
        TypeOrmModule.forRoot({
          name: AUTH_CONNECTION,
          type: 'postgres',
          url: options.databaseUrl,
          entities: AUTH_ENTITIES,
          migrations: [AuthInitial1764300000000, AuthAccounts1764400000000, sealedSigningKeysMigration(cipher), RegistrationSecrets1765100000000, OperatorSessions1765200000000],
          migrationsRun: true,
          synchronize: false,
        }),
      ],
      controllers: [TokenController, WellKnownController, ...MANAGEMENT_API],
      providers: [
        { provide: AUTH_OPTIONS, useValue: options },
        BusClient,
        { provide: MANAGEMENT_CONTROLLERS, useValue: MANAGEMENT_API },
        { provide: ClientDirectory, useClass: TypeOrmClientDirectory },
        { provide: SigningKeyCipher, useValue: cipher },
        { provide: SigningKeyStore, useClass: TypeOrmSigningKeyStore },
        SigningKeys,
        TokenRateLimits,
        PasswordHasher,
        ClientAssertionVerifier,
        TokenService,
        RegistryOutboxRelay,
        KeyExpiryAnnouncer,
        RegistryAdmin,
        OrganizationAdmin,
        AccountsService,
        { provide: CsrfTokens, useValue: new CsrfTokens(options.signingKeyEncryptionKey) },
        ConsoleSessions,
        ConsoleTestSend,
        OperatorOverviewService,
        // Distributed: push-core's internal API. Standalone: the composition provides push-core's queries.
        ...(options.console?.pushCoreUrl ? [{ provide: PushCoreReads, useValue: new HttpPushCoreReads(options.console.pushCoreUrl) }] : []),
        AccessGuard,
        ManagementDocs,
      ],
    };
  }
}
