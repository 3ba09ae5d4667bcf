import { Catch, Global, Module, type ArgumentsHost, type DynamicModule, type ExceptionFilter } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { FastifyReply } from 'fastify';
import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { DomainError } from '@borealis/contracts';
import { MemoryRateLimiter, MemoryReplayGuard, RateLimiter, ReplayGuard } from '@borealis/keyvalue';
import { InProcessMessageBus, MessageBus } from '@borealis/messaging';
import { createTestDatabase, type TestDatabase } from '@borealis/testing';
import { Clock } from '@borealis/util';
import { AuthModule, type AuthModuleOptions } from './index';

const ADMIN_TOKEN = 'console-session-test-admin-token-0123456789';
const STATUS: Record<string, number> = { invalid_argument: 400, unauthenticated: 401, permission_denied: 403, not_found: 404, conflict: 409, rate_limited: 429 };

@Catch()
class PlatformLikeErrorFilter implements ExceptionFilter {
  catch(err: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    if (err instanceof DomainError) {
      if (err.details.retryAfterSeconds !== undefined) void reply.header('retry-after', String(err.details.retryAfterSeconds));
      void reply.status(STATUS[err.code] ?? 500).send({ code: err.code, detail: err.message });
    } else void reply.status(500).send({ code: 'internal', detail: String(err) });
  }
}

/** The system's time, moved forward by the test. */
class ShiftedClock extends Clock {
  offsetMs = 0;
  now(): number {
    return Date.now() + this.offsetMs;
  }
}

function platformDrivers(bus: MessageBus, clock: Clock): DynamicModule {
  @Global()
  @Module({})
  class TestPlatformModule {}
  return {
    module: TestPlatformModule,
    providers: [
      { provide: MessageBus, useValue: bus },
      { provide: ReplayGuard, useValue: new MemoryReplayGuard(clock) },
      { provide: RateLimiter, useValue: new MemoryRateLimiter(clock) },
      { provide: Clock, useValue: clock },
    ],
    exports: [MessageBus, ReplayGuard, RateLimiter, Clock],
  };
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
type Headers = Record<string, string>;

describe('console sessions in a cookie, with CSRF tokens (PostgreSQL)', () => {
  let db: TestDatabase;
  let bus: InProcessMessageBus;
  const clock = new ShiftedClock();
  const apps: NestFastifyApplication[] = [];
  let app: NestFastifyApplication;
  let options: AuthModuleOptions;

  async function start(overrides: Partial<AuthModuleOptions> = {}): Promise<NestFastifyApplication> {
    const moduleRef = await Test.createTestingModule({ imports: [platformDrivers(bus, clock), AuthModule.register({ ...options, ...overrides })] }).compile();
    // One proxy in front, as behind the ingress: X-Forwarded-Proto and -For are believed.
    const started = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter({ trustProxy: 1 }), { logger: false });
    started.useGlobalFilters(new PlatformLikeErrorFilter());
    await started.init();
    await started.getHttpAdapter().getInstance().ready();
    apps.push(started);
    return started;
  }

  const call = (method: Method, url: string, headers: Headers = {}, payload?: object, on = app) =>
    on.inject({ method, url: `/auth/admin/v1${url}`, headers, ...(payload ? { payload } : {}) });

  /** The `name=value` of a Set-Cookie answer, for the Cookie header of the next request. */
  const cookieOf = (setCookie: unknown) => String(setCookie).split(';')[0]!;

  async function signUp(): Promise<{ email: string; password: string }> {
    const email = `${randomUUID()}@console.example`;
    const password = `pw-${randomUUID()}`;
    expect((await call('POST', '/accounts', {}, { email, password })).statusCode).toBe(201);
    return { email, password };
  }

  // Logins here are limited to 5 per source address (for the operator case): each from its own address.
  let sources = 0;
  const nextSource = () => `198.51.100.${++sources}`;

  async function signIn(headers: Headers = {}): Promise<{ cookie: string; csrf: string; body: Record<string, unknown>; setCookie: string }> {
    const { email, password } = await signUp();
    const response = await call('POST', '/console/session', { 'x-forwarded-for': nextSource(), ...headers }, { email, password });
    expect(response.statusCode).toBe(200);
    const setCookie = String(response.headers['set-cookie']);
    const body = response.json<{ csrfToken: string }>();
    return { cookie: cookieOf(setCookie), csrf: body.csrfToken, body, setCookie };
  }

  beforeAll(async () => {
    db = await createTestDatabase('auth_console');
    options = {
      databaseUrl: db.url,
      issuer: 'http://127.0.0.1:8080/auth/public',
      tokenUrl: 'http://127.0.0.1:8080/auth/public/oauth2/token',
      audiences: ['borealis-push'],
      accessTokenTtlSeconds: 3600,
      adminToken: ADMIN_TOKEN,
      signingKeyEncryptionKey: randomBytes(32),
      publicApiUrl: 'http://127.0.0.1:8080/push/public/api/v1/',
      pushPublicAddress: 'tcp://127.0.0.1:5228',
      accountLimits: { signUpPerIp: { burst: 100, perSecond: 1 }, loginPerIp: { burst: 5, perSecond: 0.01 } },
    };
    bus = new InProcessMessageBus();
    await bus.start();
    app = await start();
  });

  afterAll(async () => {
    for (const started of apps) await started.close();
    await bus?.stop();
    await db?.drop();
  });

  afterEach(() => {
    clock.offsetMs = 0;
  });

  it('signs in with the login of POST /sessions: an HttpOnly, SameSite=Strict cookie on /auth/admin, and the session with its CSRF token', async () => {
    const { email, password } = await signUp();
    const response = await call('POST', '/console/session', { 'x-forwarded-for': nextSource() }, { email, password });
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    const setCookie = String(response.headers['set-cookie']);
    expect(setCookie).toMatch(/^borealis_session=bcs_[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/auth\/admin; Max-Age=(43199|43200)$/);
    const body = response.json<{ account: { id: string; email: string }; expiresAt: string; csrfToken: string }>();
    expect(body).toEqual({ account: { id: expect.any(String), email }, expiresAt: expect.any(String), csrfToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    expect(Date.parse(body.expiresAt) - Date.now()).toBeGreaterThan(12 * 3600_000 - 60_000);
    // The token is in the cookie only, never in the body.
    expect(response.body).not.toContain(cookieOf(setCookie).slice('borealis_session='.length));

    const wrong = await call('POST', '/console/session', { 'x-forwarded-for': nextSource() }, { email, password: 'wrong-password-here' });
    const wrongBearer = await call('POST', '/sessions', { 'x-forwarded-for': nextSource() }, { email, password: 'wrong-password-here' });
    expect([wrong.statusCode, wrong.headers['set-cookie']]).toEqual([401, undefined]);
    expect(wrong.json()).toEqual(wrongBearer.json());
    expect((await call('POST', '/console/session', {}, { email })).statusCode).toBe(400);
  });

  it('restores the session of the cookie with the same CSRF token, and answers 401 without a cookie or with a made-up one', async () => {
    const { cookie, body } = await signIn();
    const restored = await call('GET', '/console/session', { cookie });
    expect(restored.statusCode).toBe(200);
    expect(restored.headers['cache-control']).toBe('no-store');
    expect(restored.json()).toEqual(body);
    expect((await call('GET', '/console/session')).json()).toMatchObject({ code: 'unauthenticated' });
    expect((await call('GET', '/console/session', { cookie: 'borealis_session=bcs_madeup' })).statusCode).toBe(401);
    expect((await call('GET', '/console/session', { cookie: 'other=1' })).statusCode).toBe(401);
  });

  it('accepts the cookie on every management route; state-changing ones need the CSRF token, Bearer ones do not', async () => {
    const { cookie, csrf } = await signIn();
    const me = await call('GET', '/me', { cookie });
    expect(me.statusCode).toBe(200);

    const noToken = await call('POST', '/tenants', { cookie }, { name: 'no csrf' });
    expect([noToken.statusCode, noToken.json()]).toEqual([403, { code: 'permission_denied', detail: 'missing or invalid CSRF token' }]);
    expect((await call('POST', '/tenants', { cookie, 'x-csrf-token': `${csrf.slice(0, -2)}AA` }, { name: 'bad csrf' })).statusCode).toBe(403);
    const other = await signIn();
    expect((await call('POST', '/tenants', { cookie, 'x-csrf-token': other.csrf }, { name: 'another session csrf' })).statusCode).toBe(403);
    const created = await call('POST', '/tenants', { cookie, 'x-csrf-token': csrf }, { name: 'with csrf' });
    expect(created.statusCode).toBe(201);
    const tenantId = created.json<{ id: string }>().id;
    // A PATCH and a DELETE likewise; GET, HEAD and OPTIONS change nothing and need none.
    const project = await call('POST', `/tenants/${tenantId}/projects`, { cookie, 'x-csrf-token': csrf }, { name: 'p' });
    const projectId = project.json<{ id: string }>().id;
    expect((await call('PATCH', `/projects/${projectId}`, { cookie }, { isActive: false })).statusCode).toBe(403);
    expect((await call('PATCH', `/projects/${projectId}`, { cookie, 'x-csrf-token': csrf }, { isActive: false })).statusCode).toBe(200);
    expect((await call('GET', `/tenants/${tenantId}/projects`, { cookie })).statusCode).toBe(200);

    // Bearer: the CLI's way, unchanged, no CSRF token.
    const { email, password } = await signUp();
    const bearer = (await call('POST', '/sessions', { 'x-forwarded-for': nextSource() }, { email, password })).json<{ token: string }>().token;
    expect((await call('POST', '/tenants', { authorization: `Bearer ${bearer}` }, { name: 'bearer' })).statusCode).toBe(201);
    expect((await call('POST', '/tenants', { authorization: `Bearer ${ADMIN_TOKEN}` }, { name: 'operator' })).statusCode).toBe(201);
    // An Authorization header wins over the cookie, also when it is wrong.
    expect((await call('GET', '/me', { cookie, authorization: 'Bearer bcs_wrong' })).statusCode).toBe(401);
    const meViaBearer = await call('GET', '/me', { cookie, authorization: `Bearer ${bearer}` });
    expect(meViaBearer.json<{ email: string }>().email).toBe(email);
    // A Bearer-authenticated request has no console session to restore.
    expect((await call('GET', '/console/session', { authorization: `Bearer ${bearer}` })).statusCode).toBe(401);
  });

  it('signs out: ends the session (with the CSRF token) and clears the cookie', async () => {
    const { cookie, csrf } = await signIn();
    expect((await call('DELETE', '/console/session', { cookie })).statusCode).toBe(403);
    const out = await call('DELETE', '/console/session', { cookie, 'x-csrf-token': csrf });
    expect(out.statusCode).toBe(204);
    expect(out.headers['set-cookie']).toBe('borealis_session=; HttpOnly; SameSite=Strict; Path=/auth/admin; Max-Age=0');
    expect((await call('GET', '/console/session', { cookie })).json()).toMatchObject({ code: 'unauthenticated' });
    expect((await call('GET', '/me', { cookie })).statusCode).toBe(401);
  });

  it('marks the cookie Secure over HTTPS: the request came over https, or the public URL is https', async () => {
    const overHttps = await signIn({ 'x-forwarded-proto': 'https' });
    expect(overHttps.setCookie).toMatch(/; Secure$/);
    const plain = await signIn();
    expect(plain.setCookie).not.toMatch(/Secure/);
    const httpsInstallation = await start({ issuer: 'https://push.example.com/auth/public', tokenUrl: 'https://push.example.com/auth/public/oauth2/token' });
    const { email, password } = await signUp();
    const response = await call('POST', '/console/session', { 'x-forwarded-for': nextSource() }, { email, password }, httpsInstallation);
    expect(String(response.headers['set-cookie'])).toMatch(/; Secure$/);
    const out = await call('DELETE', '/console/session', { cookie: cookieOf(response.headers['set-cookie']), 'x-csrf-token': response.json<{ csrfToken: string }>().csrfToken }, undefined, httpsInstallation);
    expect(out.headers['set-cookie']).toMatch(/Max-Age=0; Secure$/);
  });

  it('answers 401 once the session has expired', async () => {
    const { cookie } = await signIn();
    clock.offsetMs = 12 * 3600_000 + 1000;
    expect((await call('GET', '/console/session', { cookie })).json()).toEqual({ code: 'unauthenticated', detail: 'the console session has expired or ended; sign in again' });
    expect((await call('GET', '/me', { cookie })).statusCode).toBe(401);
  });

  it('opens a 12-hour operator session with the admin token; wrong tokens get 401 and are limited per source address', async () => {
    const response = await call('POST', '/console/operator-session', { 'x-forwarded-for': '203.0.113.7' }, { token: ADMIN_TOKEN });
    expect(response.statusCode).toBe(200);
    const setCookie = String(response.headers['set-cookie']);
    expect(setCookie).toMatch(/^borealis_session=bco_[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/auth\/admin; Max-Age=(43199|43200)$/);
    const body = response.json<{ account: unknown; expiresAt: string; csrfToken: string }>();
    expect(body).toEqual({ account: { operator: true }, expiresAt: expect.any(String), csrfToken: expect.any(String) });
    const cookie = cookieOf(setCookie);
    expect((await call('GET', '/console/session', { cookie })).json()).toEqual(body);
    expect((await call('GET', '/me', { cookie })).json()).toEqual({ operator: true });
    // Operator-only routes, with the CSRF token for changes.
    expect((await call('POST', '/signing-keys', { cookie })).statusCode).toBe(403);
    expect((await call('POST', '/signing-keys', { cookie, 'x-csrf-token': body.csrfToken })).statusCode).toBe(201);
    // Only its hash is stored.
    const token = cookie.slice('borealis_session='.length);
    const pg = new Client({ connectionString: db.url });
    await pg.connect();
    const { rows } = await pg.query<{ token_hash: string }>('SELECT token_hash FROM operator_sessions').finally(() => pg.end());
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.map((r) => r.token_hash)).not.toContain(token);

    const wrong = await call('POST', '/console/operator-session', { 'x-forwarded-for': '203.0.113.8' }, { token: 'not-the-admin-token-but-long-enough-0000' });
    expect([wrong.statusCode, wrong.headers['set-cookie'], wrong.json<{ code: string }>().code]).toEqual([401, undefined, 'unauthenticated']);
    let limited = wrong;
    for (let i = 0; i < 6 && limited.statusCode !== 429; i++) limited = await call('POST', '/console/operator-session', { 'x-forwarded-for': '203.0.113.8' }, { token: `wrong-${i}` });
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Another address is not affected.
    expect((await call('POST', '/console/operator-session', { 'x-forwarded-for': '203.0.113.9' }, { token: 'wrong' })).statusCode).toBe(401);

    expect((await call('DELETE', '/console/session', { cookie, 'x-csrf-token': body.csrfToken })).statusCode).toBe(204);
    expect((await call('GET', '/me', { cookie })).statusCode).toBe(401);
  });

  it("ends operator sessions when the operator changes the admin token, and after 12 hours", async () => {
    const opened = await call('POST', '/console/operator-session', { 'x-forwarded-for': '203.0.113.20' }, { token: ADMIN_TOKEN });
    const cookie = cookieOf(opened.headers['set-cookie']);
    expect((await call('GET', '/me', { cookie })).statusCode).toBe(200);
    const rotated = await start({ adminToken: 'a-new-admin-token-for-this-installation-0123' });
    expect((await call('GET', '/me', { cookie }, undefined, rotated)).statusCode).toBe(401);
    clock.offsetMs = 12 * 3600_000 + 1000;
    expect((await call('GET', '/me', { cookie })).statusCode).toBe(401);
  });
});
