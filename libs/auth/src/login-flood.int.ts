// Issue 15, finding 3: a flood of console logins must not stall token issuance. Logins run scrypt
// (about 100 ms, on libuv's threadpool), and jose's signing and verification (WebCrypto) share that
// pool; the review measured a token request going from 43 ms idle to 5.3 s during a flood of 631
// logins with a new e-mail each, with no 429.
//
// The bound: a token request during the flood takes less than 10 × the idle latency measured in
// the same test + 1,000 ms. "Not starved" is the property, not a benchmark: the idle figure absorbs
// how fast the machine is, the 1,000 ms its noise. On a shared 2-core machine (load average 25)
// idle was 10 ms and the worst request during the flood 612 ms with this fix (the flood's own
// parsing, lookups and one scrypt at a time compete for the CPU), against 106 s without it (the
// token request queued behind 300 scrypt calls on the threadpool), with no 429 at all.
import { randomBytes } from 'node:crypto';
import { Catch, Global, Module, type ArgumentsHost, type DynamicModule, type ExceptionFilter } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { FastifyReply } from 'fastify';
import { randomUUID } from 'node:crypto';
import { importPKCS8, SignJWT } from 'jose';
import { DomainError, OAuthError } from '@borealis/contracts';
import { MemoryRateLimiter, MemoryReplayGuard, RateLimiter, ReplayGuard } from '@borealis/keyvalue';
import { InProcessMessageBus, MessageBus } from '@borealis/messaging';
import { createTestDatabase, type TestDatabase } from '@borealis/testing';
import { Clock, SystemClock, sleep } from '@borealis/util';
import { AuthModule, type AuthModuleOptions } from './index';

const ADMIN_TOKEN = 'flood-admin-token-0123456789abcdefghijklmnop';
const ISSUER = 'http://127.0.0.1:8080/auth/public';
const TOKEN_URL = `${ISSUER}/oauth2/token`;

/** The platform's mapping, for the codes these routes produce. */
const STATUS: Record<string, number> = { invalid_argument: 400, unauthenticated: 401, not_found: 404, conflict: 409, rate_limited: 429, unavailable: 503 };
@Catch()
class PlatformLikeErrorFilter implements ExceptionFilter {
  catch(err: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    if (err instanceof OAuthError) void reply.status(err.status).send({ error: err.error });
    else if (err instanceof DomainError) void reply.status(STATUS[err.code] ?? 500).send({ code: err.code, detail: err.message });
    else void reply.status(500).send({ code: 'internal', detail: String(err) });
  }
}

function platformDrivers(bus: MessageBus): DynamicModule {
  @Global()
  @Module({})
  class FloodPlatformModule {}
  const clock = new SystemClock();
  return {
    module: FloodPlatformModule,
    providers: [
      { provide: MessageBus, useValue: bus },
      { provide: ReplayGuard, useValue: new MemoryReplayGuard(clock) },
      { provide: RateLimiter, useValue: new MemoryRateLimiter(clock) },
      { provide: Clock, useValue: clock },
    ],
    exports: [MessageBus, ReplayGuard, RateLimiter, Clock],
  };
}

type Settings = Record<'client_id' | 'private_key' | 'key_id' | 'scopes' | 'audience', string>;

describe('a login flood does not stall token issuance (issue 15, finding 3)', () => {
  let db: TestDatabase;
  let bus: InProcessMessageBus;
  let app: NestFastifyApplication;

  beforeAll(async () => {
    db = await createTestDatabase('auth_flood');
    const options: AuthModuleOptions = {
      databaseUrl: db.url,
      issuer: ISSUER,
      tokenUrl: TOKEN_URL,
      audiences: ['borealis-push'],
      accessTokenTtlSeconds: 3600,
      adminToken: ADMIN_TOKEN,
      signingKeyEncryptionKey: randomBytes(32),
      publicApiUrl: 'http://127.0.0.1:8080/push/public/api/v1/',
      pushPublicAddress: 'tcp://127.0.0.1:5228',
    };
    bus = new InProcessMessageBus();
    await bus.start();
    const moduleRef = await Test.createTestingModule({ imports: [platformDrivers(bus), AuthModule.register(options)] }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
    app.useGlobalFilters(new PlatformLikeErrorFilter());
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await bus?.stop();
    await db?.drop();
  });

  const admin = (url: string, payload: object) => app.inject({ method: 'POST', url: `/auth/admin/v1${url}`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, payload });

  async function serviceAccount(): Promise<Settings> {
    const tenant = await admin('/tenants', { name: 'flood tenant' });
    const project = await admin(`/tenants/${tenant.json().id}/projects`, { name: 'flood project' });
    const account = await admin(`/projects/${project.json().id}/service-accounts`, {});
    expect(account.statusCode).toBe(201);
    return account.json().settings.push_notification_system;
  }

  /** Signed before anything is timed: the test's own signing shares the threadpool under test. */
  async function assertions(s: Settings, n: number): Promise<string[]> {
    const key = await importPKCS8(s.private_key, 'RS256');
    const now = Math.floor(Date.now() / 1000);
    return Promise.all(
      Array.from({ length: n }, () =>
        new SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg: 'RS256', kid: s.key_id }).setIssuer(s.client_id).setSubject(s.client_id).setAudience(TOKEN_URL).setIssuedAt(now).setExpirationTime(now + 120).sign(key),
      ),
    );
  }

  async function timedToken(s: Settings, assertion: string): Promise<number> {
    const started = performance.now();
    const response = await app.inject({
      method: 'POST',
      url: '/auth/public/oauth2/token',
      remoteAddress: '192.0.2.200',
      payload: { grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion, scope: s.scopes, audience: s.audience },
    });
    const elapsed = performance.now() - started;
    expect(response.statusCode).toBe(200);
    return elapsed;
  }

  it('limits logins per address whatever the e-mail, bounds the hashing, and keeps token latency within 10 × idle + 1 s', async () => {
    const s = await serviceAccount();
    const [warm, ...signed] = await assertions(s, 12);
    await timedToken(s, warm!);
    const idle = Math.min(...[await timedToken(s, signed[0]!), await timedToken(s, signed[1]!), await timedToken(s, signed[2]!)]);

    // 300 logins from 5 addresses, a new e-mail each time (the shape of the review's flood), 10
    // every 50 ms: they arrive over time, as over a network, and token requests come between them.
    const flood = (async () => {
      const sent = [];
      for (let i = 0; i < 300; i++) {
        sent.push(app.inject({ method: 'POST', url: '/auth/admin/v1/sessions', remoteAddress: `198.51.100.${i % 5}`, payload: { email: `victim-${i}@example.com`, password: 'not the password' } }));
        if (i % 10 === 9) await sleep(50);
      }
      return Promise.all(sent);
    })();
    // Token requests during the flood and while the hashing it let through runs (about 3 s), one every 200 ms.
    const during: number[] = [];
    for (const assertion of signed.slice(3)) {
      during.push(await timedToken(s, assertion));
      await sleep(200);
    }
    const statuses = (await flood).map((r) => r.statusCode);
    const count = (status: number) => statuses.filter((c) => c === status).length;
    process.stderr.write(`login flood: idle token ${idle.toFixed(0)} ms, during the flood ${during.map((d) => d.toFixed(0)).join(', ')} ms; logins 401 ${count(401)}, 429 ${count(429)}, 503 ${count(503)}\n`);

    // Each address: its burst of 30 and what refills meanwhile (0.5/s; the flood lasts a few seconds
    // at most), then 429; of those let through, what the hashing queue cannot take gets 503.
    expect(count(429)).toBeGreaterThanOrEqual(300 - 5 * (30 + 5));
    expect(count(401) + count(429) + count(503)).toBe(300);
    expect(Math.max(...during)).toBeLessThan(10 * idle + 1000);
  }, 60_000);

  it('limits sign-ups per address', async () => {
    const signUp = (i: number, ip: string) => app.inject({ method: 'POST', url: '/auth/admin/v1/accounts', remoteAddress: ip, payload: { email: `new-${i}-${ip}@example.com`, password: 'a long enough password 1' } });
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await signUp(i, '203.0.113.9')).statusCode);
    expect(statuses).toEqual([201, 201, 201, 201, 201, 429, 429]);
    const limited = await signUp(9, '203.0.113.9');
    expect(limited.json()).toMatchObject({ code: 'rate_limited' });
    // Another address is not held to the first one's limit.
    expect((await signUp(0, '203.0.113.10')).statusCode).toBe(201);
  }, 60_000);
});
