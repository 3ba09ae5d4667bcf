import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { createServer } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { AuthModule } from '@borealis/auth';
import { GatewayModule } from '@borealis/gateway';
import { configureHttpApp, createFastifyAdapter, PlatformModule, standaloneDrivers, startBusConsumers } from '@borealis/platform';
import { PushCoreModule } from '@borealis/push-core';
import { createTestDatabase, expectEventually, type TestDatabase } from '@borealis/testing';
import { pushCoreBridge } from './standalone';

const ADMIN_TOKEN = 'console-routes-test-admin-token-0123456789';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/**
 * The console's push-side routes (docs/auth.md, "Console routes") on auth, gateway and push-core
 * composed as standalone mode composes them (push-core's queries in process, the test send over
 * loopback through the gateway's send route), and as distributed mode wires them (auth reads
 * push-core's internal HTTP API, sends through the gateway's URL; the gateway reads push-core over
 * HTTP too), against real PostgreSQL databases.
 */
describe.each([
  ['standalone: push-core read in process', false],
  ['distributed: push-core and the gateway over HTTP', true],
])('console routes (%s)', (_mode, overHttp) => {
  let authDb: TestDatabase;
  let coreDb: TestDatabase;
  let app: NestFastifyApplication;
  let base: string;

  const call = (method: Method, url: string, headers: Record<string, string> = {}, payload?: unknown) =>
    app.inject({ method, url: `/auth/admin/v1${url}`, headers, ...(payload !== undefined ? { payload: payload as object } : {}) });

  let session: { cookie: string; csrf: string };
  let tenantId: string;
  let projectId: string;
  let applicationId: string;
  const operator = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const write = () => ({ cookie: session.cookie, 'x-csrf-token': session.csrf });

  async function signIn(): Promise<{ cookie: string; csrf: string }> {
    const email = `${randomUUID()}@console.example`;
    const password = `pw-${randomUUID()}`;
    expect((await call('POST', '/accounts', {}, { email, password })).statusCode).toBe(201);
    const signedIn = await call('POST', '/console/session', {}, { email, password });
    return { cookie: String(signedIn.headers['set-cookie']).split(';')[0]!, csrf: signedIn.json<{ csrfToken: string }>().csrfToken };
  }

  beforeAll(async () => {
    authDb = await createTestDatabase(`console_auth_${overHttp ? 'http' : 'local'}`);
    coreDb = await createTestDatabase(`console_core_${overHttp ? 'http' : 'local'}`);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const issuer = `${base}/auth/public`;
    const pushCore = PushCoreModule.register({ databaseUrl: coreDb.url, exposeInternalApi: overHttp });
    const moduleRef = await Test.createTestingModule({
      imports: [
        PlatformModule.register(standaloneDrivers()),
        AuthModule.register({
          databaseUrl: authDb.url,
          issuer,
          tokenUrl: `${issuer}/oauth2/token`,
          audiences: ['borealis-push'],
          accessTokenTtlSeconds: 3600,
          adminToken: ADMIN_TOKEN,
          signingKeyEncryptionKey: Buffer.alloc(32, 9),
          publicApiUrl: `${base}/push/public/api/v1/`,
          pushPublicAddress: 'tcp://127.0.0.1:5228',
          accountLimits: { signUpPerIp: { burst: 50, perSecond: 1 } },
          console: overHttp
            ? { pushCoreUrl: base, gatewayUrl: base, selfName: 'auth', services: [{ name: 'push-core', url: base }, { name: 'nowhere', url: 'http://127.0.0.1:1' }] }
            : { gatewayUrl: base, selfName: 'standalone' },
        }),
        pushCore,
        ...(overHttp ? [] : [pushCoreBridge(pushCore)]),
        GatewayModule.register({
          issuer,
          jwksUrl: `${base}/auth/public/.well-known/jwks.json`,
          audience: 'borealis-push',
          accessTokenTtlSeconds: 3600,
          rateLimit: { perSecond: 100, burst: 100 },
          ...(overHttp ? { pushCoreUrl: base } : {}),
        }),
      ],
    }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(createFastifyAdapter(), { logger: false, bodyParser: false });
    configureHttpApp(app);
    await startBusConsumers(app);
    await app.listen(port, '127.0.0.1');

    session = await signIn();
    tenantId = (await call('POST', '/tenants', write(), { name: 'Console Org' })).json<{ id: string }>().id;
    projectId = (await call('POST', `/tenants/${tenantId}/projects`, write(), { name: 'console project' })).json<{ id: string }>().id;
    applicationId = (await call('POST', `/projects/${projectId}/applications`, write(), { name: 'console app' })).json<{ id: string }>().id;
  });

  afterAll(async () => {
    await app?.close();
    await authDb?.drop();
    await coreDb?.drop();
  });

  const sendBody = () => ({ target: applicationId, type: 'application', ttl: '1h', notification: { title: 'Test push', message: 'from the console', data: { order: 42 } } });

  /** The first send waits until the gateway's registry view has the new project (registry events). */
  async function firstSend(): Promise<string> {
    let id = '';
    await expectEventually(async () => {
      const sent = await call('POST', `/projects/${projectId}/messages`, write(), sendBody());
      expect([sent.statusCode, sent.body]).toEqual([200, expect.any(String)]);
      id = sent.json<{ id: string }>().id;
    });
    return id;
  }

  let messageId: string;

  it('sends a test push through the gateway: 200 with the id once durable, as the push API answers', async () => {
    messageId = await firstSend();
    expect(messageId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("refuses a bad body with the push API's own 400 problem details, and a send without the CSRF token", async () => {
    const bad = await call('POST', `/projects/${projectId}/messages`, write(), { target: applicationId, type: 'application', ttl: '99x', notification: { title: 'x'.repeat(600) } });
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(bad.json()).toMatchObject({ code: 'invalid_argument', instance: `/auth/admin/v1/projects/${projectId}/messages`, errors: { ttl: expect.any(String), 'notification.title': expect.any(String) } });
    expect((await call('POST', `/projects/${projectId}/messages`, write(), { target: ' ', type: 'device', notification: { title: 't' } })).json()).toMatchObject({ errors: { target: expect.any(String) } });
    expect((await call('POST', `/projects/${projectId}/messages`, { cookie: session.cookie }, sendBody())).statusCode).toBe(403);
  });

  it('honours an Idempotency-Key as the push API does', async () => {
    const key = `console-${randomUUID()}`;
    const first = await call('POST', `/projects/${projectId}/messages`, { ...write(), 'idempotency-key': key }, sendBody());
    const again = await call('POST', `/projects/${projectId}/messages`, { ...write(), 'idempotency-key': key }, sendBody());
    expect([first.statusCode, again.statusCode]).toEqual([200, 200]);
    expect(again.json()).toEqual(first.json());
    expect(again.headers['idempotent-replayed']).toBe('true');
    const reused = await call('POST', `/projects/${projectId}/messages`, { ...write(), 'idempotency-key': key }, { ...sendBody(), ttl: '2h' });
    expect(reused.statusCode).toBe(422);
  });

  it("lists the project's messages and reads one message's status, as the push API's bodies", async () => {
    const list = await call('GET', `/projects/${projectId}/messages?limit=50`, { cookie: session.cookie });
    expect(list.statusCode).toBe(200);
    expect(list.json<{ messages: { id: string }[] }>().messages.map((m) => m.id)).toContain(messageId);
    expect((await call('GET', `/projects/${projectId}/messages?limit=0`, { cookie: session.cookie })).json()).toMatchObject({ code: 'invalid_argument', errors: { limit: expect.any(String) } });
    const status = await call('GET', `/projects/${projectId}/messages/${messageId}`, { cookie: session.cookie });
    expect(status.statusCode).toBe(200);
    expect(status.json()).toMatchObject({ id: messageId, projectId, target: { type: 'application', value: applicationId }, counts: expect.any(Object) });
    expect((await call('GET', `/projects/${projectId}/messages/${randomUUID()}`, { cookie: session.cookie })).statusCode).toBe(404);
    expect((await call('GET', `/projects/${projectId}/messages/not-a-uuid`, { cookie: session.cookie })).statusCode).toBe(404);
  });

  it('answers the per-day statistics for a date range, and 400 naming a bad one', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const stats = await call('GET', `/projects/${projectId}/stats?from=${today}&to=${today}`, { cookie: session.cookie });
    expect(stats.statusCode).toBe(200);
    const days = stats.json<{ days: { date: string; accepted: number }[] }>().days;
    expect(days.find((d) => d.date === today)?.accepted).toBeGreaterThanOrEqual(1);
    expect((await call('GET', `/projects/${projectId}/stats?from=${today}&to=2000-01-01`, { cookie: session.cookie })).json()).toMatchObject({ code: 'invalid_argument', errors: { from: expect.any(String) } });
  });

  it("counts each application's live registrations in the application list", async () => {
    const before = await call('GET', `/projects/${projectId}/applications`, { cookie: session.cookie });
    expect(before.json()).toEqual([expect.objectContaining({ id: applicationId, registrations: 0 })]);
    const pg = new Client({ connectionString: coreDb.url });
    await pg.connect();
    try {
      const now = Date.now();
      for (const [i, unregistered] of [[1, null], [2, null], [3, now]] as const) {
        await pg.query('INSERT INTO registrations (id, project_id, application_id, device_id, created_at_ms, last_seen_at_ms, unregistered_at_ms) VALUES ($1, $2, $3, $4, $5, $5, $6)', [
          `reg-${overHttp}-${i}`,
          projectId,
          applicationId,
          `dev-${overHttp}-${i}`,
          now,
          unregistered,
        ]);
      }
    } finally {
      await pg.end();
    }
    const after = await call('GET', `/projects/${projectId}/applications`, { cookie: session.cookie });
    expect(after.json()).toEqual([expect.objectContaining({ id: applicationId, registrations: 2 })]);
  });

  it('keeps other organizations out: a non-member gets 404 on every console route, a viewer may read and not send', async () => {
    const stranger = await signIn();
    for (const [method, url] of [
      ['GET', `/projects/${projectId}/messages`],
      ['GET', `/projects/${projectId}/messages/${messageId}`],
      ['GET', `/projects/${projectId}/stats`],
      ['POST', `/projects/${projectId}/messages`],
    ] as const) {
      const response = await call(method, url, { cookie: stranger.cookie, 'x-csrf-token': stranger.csrf }, method === 'POST' ? sendBody() : undefined);
      expect([method, url, response.statusCode]).toEqual([method, url, 404]);
    }

    const email = `${randomUUID()}@viewer.example`;
    const password = `pw-${randomUUID()}`;
    const invitation = (await call('POST', `/tenants/${tenantId}/invitations`, write(), { email, role: 'viewer' })).json<{ token: string }>().token;
    expect((await call('POST', '/accounts', {}, { email, password, invitation })).statusCode).toBe(201);
    const signedIn = await call('POST', '/console/session', {}, { email, password });
    const viewer = { cookie: String(signedIn.headers['set-cookie']).split(';')[0]!, 'x-csrf-token': signedIn.json<{ csrfToken: string }>().csrfToken };
    expect((await call('GET', `/projects/${projectId}/messages`, viewer)).statusCode).toBe(200);
    expect((await call('GET', `/projects/${projectId}/stats`, viewer)).statusCode).toBe(200);
    expect((await call('GET', `/projects/${projectId}/messages/${messageId}`, viewer)).statusCode).toBe(200);
    const refused = await call('POST', `/projects/${projectId}/messages`, viewer, sendBody());
    expect([refused.statusCode, refused.json<{ code: string }>().code]).toEqual([403, 'permission_denied']);
  });

  it("gives the operator each service's readiness and the key figures of /metrics", async () => {
    const overview = await call('GET', '/operator/overview', operator);
    expect(overview.statusCode).toBe(200);
    const body = overview.json<{ services: { name: string; status: string; detail?: string }[]; metrics: Record<string, number> }>();
    if (overHttp) {
      expect(body.services).toEqual([
        { name: 'auth', status: 'up' },
        { name: 'push-core', status: 'up' },
        { name: 'nowhere', status: 'down', detail: expect.stringContaining('unreachable') },
      ]);
    } else {
      expect(body.services).toEqual([{ name: 'standalone', status: 'up' }]);
    }
    expect(body.metrics).toMatchObject({ pushesAccepted: expect.any(Number), deliveriesPending: expect.any(Number), connectedDevices: 0, busConsumerLag: expect.any(Number) });
    expect(body.metrics['pushesAccepted']).toBeGreaterThanOrEqual(2);
    expect((await call('GET', '/operator/overview', { cookie: session.cookie })).statusCode).toBe(403);
  });
});
