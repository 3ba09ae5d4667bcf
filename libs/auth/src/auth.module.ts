import { Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AdminTokenGuard } from './admin/admin-token.guard';
import { AdminController } from './admin/admin.controller';
import { RegistryAdmin } from './admin/registry-admin.service';
import { AUTH_OPTIONS, checkAuthOptions, type AuthModuleOptions } from './auth-options';
import { AUTH_CONNECTION } from './persistence/database';
import { AUTH_ENTITIES } from './persistence/entities';
import { AuthInitial1764300000000 } from './persistence/migrations/1764300000000-auth-initial';
import { TypeOrmClientDirectory } from './persistence/typeorm-client-directory';
import { TypeOrmSigningKeyStore } from './persistence/typeorm-signing-key-store';
import { RegistryOutboxRelay } from './registry/registry-outbox-relay';
import { SigningKeyStore, SigningKeys } from './signing/signing-keys';
import { WellKnownController } from './signing/well-known.controller';
import { ClientAssertionVerifier } from './token/client-assertion';
import { ClientDirectory } from './token/client-directory';
import { TokenController } from './token/token.controller';
import { TokenService } from './token/token.service';

/**
 * The auth service: tenants, projects, service accounts and applications; the OAuth2 token
 * endpoint, JWKS and discovery; the operator admin API; registry events. Needs `MessageBus`,
 * `ReplayGuard` and `Clock` provided globally by the platform.
 */
@Module({})
export class AuthModule {
  static register(options: AuthModuleOptions): DynamicModule {
    checkAuthOptions(options);
    return {
      module: AuthModule,
      imports: [
        TypeOrmModule.forRoot({
          name: AUTH_CONNECTION,
          type: 'postgres',
          url: options.databaseUrl,
          entities: AUTH_ENTITIES,
          migrations: [AuthInitial1764300000000],
          migrationsRun: true,
          synchronize: false,
        }),
      ],
      controllers: [TokenController, WellKnownController, AdminController],
      providers: [
        { provide: AUTH_OPTIONS, useValue: options },
        { provide: ClientDirectory, useClass: TypeOrmClientDirectory },
        { provide: SigningKeyStore, useClass: TypeOrmSigningKeyStore },
        SigningKeys,
        ClientAssertionVerifier,
        TokenService,
        RegistryOutboxRelay,
        RegistryAdmin,
        AdminTokenGuard,
      ],
    };
  }
}
