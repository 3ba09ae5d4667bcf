// Sign-up closed or by invitation (issue 15, finding 8): the operator decides who may create a
// console account. Open sign-up is what management.int.ts exercises.
import { Catch, Global, Module, type ArgumentsHost, type DynamicModule, type ExceptionFilter } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { FastifyReply } from 'fastify';
import { randomBytes } from 'node:crypto';
import { DomainError, type ErrorCode } from '@borealis/contracts';
import { MemoryRateLimiter, MemoryReplayGuard, RateLimiter, ReplayGuard } from '@borealis/keyvalue';
import { InProcessMessageBus, MessageBus } from '@borealis/messaging';
import { createTestDatabase, type TestDatabase } from '@borealis/testing';
import { Clock, SystemClock } from '@borealis/util';
import { AuthModule, type AuthModuleOptions } from './index';

const ADMIN_TOKEN = 'sign-up-modes-test-admin-token-0123456789abcdef';
const STATUS: Partial<Record<ErrorCode, number>> = { invalid_argument: 400, unauthenticated: 401, permission_denied: 403, not_found: 404, conflict: 409 };
jest.setTimeout(30_000);

@Catch()
class ProblemFilter implements ExceptionFilter {
  catch(err: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    if (err instanceof DomainError) void reply.status(STATUS[err.code] ?? 500).send({ code: err.code, detail: err.message });
    else void reply.status(500).send({ code: 'internal', detail: String(err) });
  }
}

function drivers(bus: MessageBus): DynamicModule {
  @Global()
  @Module({})
  class SignUpPlatformModule {}
  const clock = new SystemClock();
  return {
    module: SignUpPlatformModule,
    providers: [
      { provide: MessageBus, useValue: bus },
      { provide: ReplayGuard, useValue: new MemoryReplayGuard(clock) },
      { provide: RateLimiter, useValue: new MemoryRateLimiter(clock) },
      { provide: Clock, useValue: clock },
    ],
    exports: [MessageBus, ReplayGuard, RateLimiter, Clock],
  };
}

async function boot(db: TestDatabase, signUp: AuthModuleOptions['signUp']): Promise<{ app: NestFastifyApplication; bus: InProcessMessageBus }> {
  const bus = new InProcessMessageBus();
  await bus.start();
  const moduleRef = await Test.createTestingModule({
    imports: [
      drivers(bus),
      AuthModule.register({
        databaseUrl: db.url,
        issuer: 'http://127.0.0.1:8080/auth/public',
        tokenUrl: 'http://127.0.0.1:8080/auth/public/oauth2/token',
        audiences: ['borealis-push'],
        accessTokenTtlSeconds: 3600,
        adminToken: ADMIN_TOKEN,
        signingKeyEncryptionKey: randomBytes(32),
        publicApiUrl: 'http://127.0.0.1:8080/push/public/api/v1/',
        pushPublicAddress: 'tcp://127.0.0.1:5228',
        accountLimits: { signUpPerIp: { burst: 50, perSecond: 1 } },
        signUp,
      }),
    ],
  }).compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
  app.useGlobalFilters(new ProblemFilter());
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return { app, bus };
}

describe.each(['invitation', 'closed'] as const)('sign-up %s (PostgreSQL)', (mode) => {
  let db: TestDatabase;
  let app: NestFastifyApplication;
  let bus: InProcessMessageBus;
  const api = (method: 'GET' | 'POST', url: string, token: string | null, payload?: object) =>
    app.inject({ method, url: `/auth/admin/v1${url}`, headers: token ? { authorization: `Bearer ${token}` } : {}, ...(payload ? { payload } : {}) });

  beforeAll(async () => {
    db = await createTestDatabase(`auth_signup_${mode}`);
    ({ app, bus } = await boot(db, mode));
  });

  afterAll(async () => {
    await app?.close();
    await bus?.stop();
    await db?.drop();
  });

  it('refuses a sign-up without an invitation, or with a made-up one', async () => {
    const fresh = await api('POST', '/accounts', null, { email: 'fresh@example.com', password: 'a long enough password' });
    expect([fresh.statusCode, fresh.json().code]).toEqual([403, 'permission_denied']);
    const forged = await api('POST', '/accounts', null, { email: 'fresh@example.com', password: 'a long enough password', invitation: 'bci_made-up' });
    expect(forged.json()).toEqual(fresh.json());
    expect((await api('POST', '/sessions', null, { email: 'fresh@example.com', password: 'a long enough password' })).statusCode).toBe(401);
  });

  it(mode === 'invitation' ? 'signs up with a pending invitation for that address, joining its organization; the token is single-use' : 'refuses a sign-up even with a pending invitation', async () => {
    const tenant = (await api('POST', '/tenants', ADMIN_TOKEN, { name: `org-${mode}` })).json<{ id: string }>().id;
    const invited = (await api('POST', `/tenants/${tenant}/invitations`, ADMIN_TOKEN, { email: 'Invited@Example.com', role: 'developer' })).json<{ token: string }>();
    const password = 'a long enough password 2';
    // Another address cannot use the token.
    expect((await api('POST', '/accounts', null, { email: 'someone-else@example.com', password, invitation: invited.token })).statusCode).toBe(403);
    const signedUp = await api('POST', '/accounts', null, { email: 'invited@example.com', password, invitation: invited.token });
    if (mode === 'closed') {
      expect([signedUp.statusCode, signedUp.json().code]).toEqual([403, 'permission_denied']);
      return;
    }
    expect(signedUp.statusCode).toBe(201);
    const session = (await api('POST', '/sessions', null, { email: 'invited@example.com', password })).json<{ token: string }>();
    expect((await api('GET', '/me', session.token)).json()).toMatchObject({ email: 'invited@example.com', memberships: [{ tenantId: tenant, role: 'developer' }] });
    // Used: a second sign-up with it is refused like any other, and the answer for an address with
    // an account is the one for an address without (no account enumeration, finding 8).
    const again = await api('POST', '/accounts', null, { email: 'invited@example.com', password, invitation: invited.token });
    const unknown = await api('POST', '/accounts', null, { email: 'nobody@example.com', password, invitation: invited.token });
    expect([again.statusCode, again.json()]).toEqual([403, unknown.json()]);
    expect((await api('POST', '/accounts', null, { email: 'invited@example.com', password })).json()).toEqual((await api('POST', '/accounts', null, { email: 'nobody@example.com', password })).json());
  });
});
