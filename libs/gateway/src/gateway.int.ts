import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Global, Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { connect } from 'node:net';
import {
  MessageSummaryV1,
  Topics,
  type MessageAcceptedV1,
  type MessageCancelRequestedV1,
  type MessageListV1,
  type MessageStatusV1,
  type ProjectStatsV1,
  type RegistrationInfoV1,
  type RegistrationTopicsV1,
  type RegistrationUnregisterRequestedV1,
  type TopicSubscriptionRequestedV1,
} from '@borealis/contracts';
import { MemoryPresenceStore, MemoryReplayGuard, RedisRateLimiter } from '@borealis/keyvalue';
import { InProcessMessageBus } from '@borealis/messaging';
import { configureHttpApp, createFastifyAdapter, PlatformModule, startBusConsumers } from '@borealis/platform';
import { requireRedis } from '@borealis/testing';
import { isUuid, randomToken, SystemClock } from '@borealis/util';
import Redis from 'ioredis';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { GatewayModule, MessageListReader, MessageStatusReader, ProjectStatsReader, RegistrationReader, type MessageListParams } from './index';
import { documentValidator } from './openapi/document-validator.testing';
import { RequestLimits } from './rate-limit/request-limits';

const ISSUER = 'https://borealis.test/auth/public';
const AUDIENCE = 'borealis-push';
const BURST = 3;
const BASE = '/push/public/api/v1';

const knownStatus: MessageStatusV1 = {
  id: '018f0000-0000-7000-8000-000000000001',
  projectId: 'set per test',
  state: 'delivered',
  target: { type: 'device', value: 'reg-1' },
  createdAt: '2026-01-01T00:00:00.000Z',
  expiresAt: '2026-01-02T00:00:00.000Z',
  cancelledAt: null,
  counts: { pending: 0, sent: 0, delivered: 1, expired: 0, failed: 0, cancelled: 0 },
  recipients: [{ registrationId: 'reg-1', state: 'delivered', updatedAt: '2026-01-01T00:00:01.000Z' }],
};

/** A pending message whose cancel the stub push-core applies, and one it never gets to. */
const pendingId = '018f0000-0000-7000-8000-000000000002';
const stuckId = '018f0000-0000-7000-8000-000000000003';
/** Messages the stub push-core has applied a cancel to, by project. */
const cancelledIn = new Set<string>();
const cancelRequests: MessageCancelRequestedV1[] = [];

class StubStatusReader extends MessageStatusReader {
  async getStatus(projectId: string, messageId: string): Promise<MessageStatusV1 | null> {
    if (messageId === knownStatus.id) return { ...knownStatus, projectId };
    if (messageId !== pendingId && messageId !== stuckId) return null;
    // Only the project that sent it knows it: the pending messages belong to projects named "owner-*".
    if (!projectId.startsWith('owner-')) return null;
    const cancelled = cancelledIn.has(`${projectId}/${messageId}`);
    return {
      ...knownStatus,
      id: messageId,
      projectId,
      state: cancelled ? 'cancelled' : 'stored',
      cancelledAt: cancelled ? '2026-01-01T00:00:02.000Z' : null,
      counts: { ...knownStatus.counts, delivered: 0, pending: cancelled ? 0 : 1, cancelled: cancelled ? 1 : 0 },
      recipients: [{ registrationId: 'reg-1', state: cancelled ? 'cancelled' : 'pending', updatedAt: '2026-01-01T00:00:01.000Z' }],
    };
  }
}

/** Registrations the stub push-core has unregistered, by project. */
const unregisteredIn = new Set<string>();
const unregisterRequests: RegistrationUnregisterRequestedV1[] = [];

/** One registration, `reg-owned`, in every project named "owner-*". */
class StubRegistrationReader extends RegistrationReader {
  async getRegistration(projectId: string, registrationId: string): Promise<RegistrationInfoV1 | null> {
    if (registrationId !== 'reg-owned' || !projectId.startsWith('owner-')) return null;
    const gone = unregisteredIn.has(projectId);
    return {
      registrationId,
      projectId,
      applicationId: 'app-1',
      createdAt: '2026-01-01T00:00:00.000Z',
      lastSeenAt: '2026-01-01T00:00:01.000Z',
      unregisteredAt: gone ? '2026-01-01T00:00:02.000Z' : null,
      online: !gone,
      topicCount: 1,
      topics: ['news'],
    };
  }

  async liveOf(projectId: string, registrationIds: readonly string[]): Promise<Set<string>> {
    // Live in "owner-*" projects: reg-owned, and any id starting live-.
    if (!projectId.startsWith('owner-')) return new Set();
    return new Set(registrationIds.filter((id) => (id === 'reg-owned' && !unregisteredIn.has(projectId)) || id.startsWith('live-')));
  }

  async getTopics(projectId: string, registrationId: string): Promise<RegistrationTopicsV1 | null> {
    const found = await this.getRegistration(projectId, registrationId);
    return found && { registrationId, projectId, topics: [{ topic: 'news', subscribedAt: '2026-01-01T00:00:00.000Z' }] };
  }
}

const listCalls: { projectId: string; params: MessageListParams }[] = [];

/** Lists the known status (delivered) for every project; records what it was asked. */
class StubListReader extends MessageListReader {
  async list(projectId: string, params: MessageListParams): Promise<MessageListV1> {
    listCalls.push({ projectId, params });
    return { projectId, messages: [MessageSummaryV1.parse({ ...knownStatus, projectId })], nextCursor: null };
  }
}

class StubStatsReader extends ProjectStatsReader {
  async getStats(projectId: string, from: string, to: string): Promise<ProjectStatsV1> {
    return { projectId, from, to, days: [{ date: from, accepted: 4, delivered: 3, expired: 1, failed: 0, cancelled: 0 }] };
  }
}

@Global()
@Module({
  providers: [
    { provide: MessageStatusReader, useClass: StubStatusReader },
    { provide: ProjectStatsReader, useClass: StubStatsReader },
    { provide: RegistrationReader, useClass: StubRegistrationReader },
    { provide: MessageListReader, useClass: StubListReader },
  ],
  exports: [MessageStatusReader, ProjectStatsReader, RegistrationReader, MessageListReader],
})
class StatusStubModule {}

let app: NestFastifyApplication;
let baseUrl: string;
let jwks: Server;
let redis: Redis;
let signingKey: CryptoKey;
let forgeryKey: CryptoKey;
const bus = new InProcessMessageBus({ maxAttempts: 1 });
const accepted: MessageAcceptedV1[] = [];
const subscriptionRequests: TopicSubscriptionRequestedV1[] = [];
/** A consumer that cannot store this project's messages: publish rejects, as when Kafka does. */
const brokenProject = `broken-${randomToken(6)}`;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  signingKey = pair.privateKey;
  forgeryKey = (await generateKeyPair('RS256')).privateKey;
  const keySet = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] });
  jwks = createServer((req, res) => {
    if (req.url !== '/jwks.json') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(keySet);
  });
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));

  redis = new Redis(requireRedis());
  await bus.subscribe({
    topic: Topics.messageAccepted,
    group: 'test.capture',
    handler: async (messages) => {
      for (const { value } of messages) {
        if (value.projectId === brokenProject) throw new Error('store unavailable');
        accepted.push(value);
      }
    },
  });

  // The stub push-core applies cancels of `pendingId` only.
  await bus.subscribe({
    topic: Topics.messageCancelRequested,
    group: 'test.capture',
    handler: async (messages) => {
      for (const { value } of messages) {
        if (value.projectId.startsWith('owner-broken')) throw new Error('store unavailable');
        cancelRequests.push(value);
        if (value.messageId === pendingId) cancelledIn.add(`${value.projectId}/${value.messageId}`);
      }
    },
  });

  await bus.subscribe({
    topic: Topics.registrationUnregisterRequested,
    group: 'test.capture',
    handler: async (messages) => {
      for (const { value } of messages) {
        unregisterRequests.push(value);
        unregisteredIn.add(value.projectId);
      }
    },
  });

  await bus.subscribe({ topic: Topics.topicSubscriptionRequested, group: 'test.capture', handler: async (messages) => void subscriptionRequests.push(...messages.map((m) => m.value)) });

  const moduleRef = await Test.createTestingModule({
    imports: [
      PlatformModule.register({
        bus,
        presence: new MemoryPresenceStore(),
        rateLimiter: new RedisRateLimiter(redis),
        replayGuard: new MemoryReplayGuard(),
        clock: new SystemClock(),
      }),
      StatusStubModule,
      GatewayModule.register({
        issuer: ISSUER,
        audience: AUDIENCE,
        jwksUrl: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`,
        rateLimit: { perSecond: 0.1, burst: BURST },
        accessTokenTtlSeconds: 3600,
        redisUrl: requireRedis(),
        consumerGroupPrefix: 'test.gateway',
      }),
    ],
  }).compile();
  app = moduleRef.createNestApplication<NestFastifyApplication>(createFastifyAdapter(), { logger: false, bodyParser: false });
  configureHttpApp(app);
  await startBusConsumers(app);
  await app.listen(0, '127.0.0.1');
  baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app?.close();
  await redis?.quit();
  await new Promise((resolve) => jwks?.close(resolve));
});

function newProject(): string {
  return `proj-${randomToken(6)}`;
}

/** An access token as auth issues it; `keyId: null` leaves out client_key_id (auth never does). */
function token(projectId: string, opts: { scope?: string; key?: CryptoKey; expiresInSeconds?: number; keyId?: string | null } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    project_id: projectId,
    scope: opts.scope ?? 'openid offline message:update project:read',
    client_id: 'client-1',
    ...(opts.keyId === null ? {} : { client_key_id: opts.keyId ?? `key-of-${projectId}` }),
  })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'at+jwt' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject('client-1')
    .setIssuedAt(now - 600)
    .setExpirationTime(now + (opts.expiresInSeconds ?? 300))
    .sign(opts.key ?? signingKey);
}

const message = { target: 'reg-1', type: 'device', ttl: '1h', notification: { title: 'Hello', message: 'World', data: { deep: { link: '/x' } } } };

async function send(projectId: string, opts: { auth?: string | null; body?: string | Uint8Array; path?: string; headers?: Record<string, string> } = {}) {
  const auth = opts.auth === undefined ? `Bearer ${await token(projectId)}` : opts.auth;
  const response = await fetch(baseUrl + (opts.path ?? `${BASE}/projects/${projectId}/messages`), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}), ...opts.headers },
    body: opts.body ?? JSON.stringify(message),
  });
  return { response, body: (await response.json()) as Record<string, unknown> };
}

/** Writes raw bytes to the server and returns what it answered (for requests fetch refuses to send). */
function rawHttp(bytes: string): Promise<string> {
  const { port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.end(bytes));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

async function registry(...events: unknown[]) {
  await bus.publish(Topics.registry, events.map((value) => ({ value: value as never })));
}

async function call(method: string, path: string, auth: string | null) {
  const response = await fetch(baseUrl + BASE + path, { method, headers: auth ? { authorization: auth } : {} });
  return { response, body: (await response.json()) as Record<string, unknown> };
}

async function get(path: string, auth: string) {
  const response = await fetch(baseUrl + BASE + path, { headers: { authorization: auth } });
  return { response, body: (await response.json()) as Record<string, unknown> };
}

function expectProblem(result: { response: Response; body: Record<string, unknown> }, status: number, code: string) {
  expect(result.response.status).toBe(status);
  expect(result.response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(result.body).toMatchObject({ status, code, type: expect.stringContaining(code), title: expect.any(String), detail: expect.any(String) });
}

describe('gateway public API', () => {
  it('accepts a valid message: 200 {id} only after a MessageAcceptedV1 with the right fields is published', async () => {
    const projectId = newProject();
    const before = Date.now();
    const { response, body } = await send(projectId);
    expect(response.status).toBe(200);
    expect(Object.keys(body)).toEqual(['id']);
    expect(isUuid(body['id'] as string)).toBe(true);
    expect(response.headers.get('ratelimit-limit')).toBe(String(BURST));
    expect(response.headers.get('ratelimit-remaining')).toBe(String(BURST - 1));
    const event = accepted.find((m) => m.messageId === body['id']);
    expect(event).toEqual({
      messageId: body['id'],
      projectId,
      target: { type: 'device', value: 'reg-1' },
      notification: { title: 'Hello', message: 'World', data: '{"deep":{"link":"/x"}}' },
      ttlSeconds: 3600,
      priority: 'normal',
      collapseKey: null,
      acceptedAtMs: expect.any(Number),
      expiresAtMs: event!.acceptedAtMs + 3600_000,
    });
    expect(event!.acceptedAtMs).toBeGreaterThanOrEqual(before);
  });

  it('tolerates a doubled slash after v1', async () => {
    const projectId = newProject();
    const { response, body } = await send(projectId, { path: `${BASE}//projects/${projectId}/messages` });
    expect(response.status).toBe(200);
    expect(accepted.some((m) => m.messageId === body['id'])).toBe(true);
  });

  it.each([
    ['a missing token', async () => null],
    ['a forged token', async (p: string) => `Bearer ${await token(p, { key: forgeryKey })}`],
    ['an expired token', async (p: string) => `Bearer ${await token(p, { expiresInSeconds: -60 })}`],
    ['a validly signed token without client_key_id', async (p: string) => `Bearer ${await token(p, { keyId: null })}`],
    ['a validly signed token that expires in ten years', async (p: string) => `Bearer ${await token(p, { expiresInSeconds: 10 * 365 * 86400 })}`],
  ])('answers 401 problem+json with a Bearer challenge for %s', async (_name, auth) => {
    const projectId = newProject();
    const result = await send(projectId, { auth: await auth(projectId) });
    expectProblem(result, 401, 'unauthenticated');
    expect(result.response.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(accepted.some((m) => m.projectId === projectId)).toBe(false);
  });

  it('refuses a validly signed token auth would never issue (no client_key_id, ten years to live) without saying which check failed', async () => {
    const projectId = newProject();
    const result = await send(projectId, { auth: `Bearer ${await token(projectId, { keyId: null, expiresInSeconds: 10 * 365 * 86400 })}` });
    expectProblem(result, 401, 'unauthenticated');
    expect(result.body['detail']).toBe('the access token is not valid');
    expect(result.response.headers.get('www-authenticate')).toBe('Bearer realm="borealis", error="invalid_token"');
    expect(accepted.some((m) => m.projectId === projectId)).toBe(false);
  });

  it("answers 403 for a token of project A used on project B", async () => {
    const a = newProject();
    const b = newProject();
    const result = await send(b, { auth: `Bearer ${await token(a)}` });
    expectProblem(result, 403, 'permission_denied');
    expect(result.body['detail']).toBe('the access token belongs to another project');
  });

  it('answers 403 when the token lacks message:update', async () => {
    const projectId = newProject();
    const result = await send(projectId, { auth: `Bearer ${await token(projectId, { scope: 'openid project:read' })}` });
    expectProblem(result, 403, 'permission_denied');
    expect(result.body['detail']).toBe('the access token lacks the scope message:update');
    expect(result.response.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
  });

  it('answers 400 naming the field for an oversize title', async () => {
    const projectId = newProject();
    const body = JSON.stringify({ ...message, notification: { title: 'x'.repeat(513), message: 'm' } });
    const result = await send(projectId, { body });
    expectProblem(result, 400, 'invalid_argument');
    expect(result.body['errors']).toEqual({ 'notification.title': 'is 513 characters; the limit is 512' });
  });

  it('answers 400 for malformed JSON', async () => {
    const result = await send(newProject(), { body: '{"target": "reg-1",' });
    expect(result.response.status).toBe(400);
    expect(result.response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(result.body['detail']).toMatch(/JSON/);
  });

  it('answers 429 with Retry-After once the burst is spent', async () => {
    const projectId = newProject();
    for (let i = 0; i < BURST; i++) expect((await send(projectId)).response.status).toBe(200);
    const result = await send(projectId);
    expectProblem(result, 429, 'rate_limited');
    expect(Number(result.response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(result.response.headers.get('ratelimit-remaining')).toBe('0');
    expect(result.response.headers.get('ratelimit-limit')).toBe(String(BURST));
  });

  it('with one token reused (the fast path: both limits in one round trip) admits exactly the burst, with RateLimit headers', async () => {
    const projectId = newProject();
    const auth = `Bearer ${await token(projectId)}`;
    const before = accepted.filter((m) => m.projectId === projectId).length;
    const fastPath = jest.spyOn(app.get(RequestLimits), 'takeIpThenProject');
    // The first request verifies the token; the ones after it find it remembered.
    const results = [await send(projectId, { auth })];
    results.push(...(await Promise.all(Array.from({ length: BURST + 1 }, () => send(projectId, { auth })))));
    expect(fastPath).toHaveBeenCalledTimes(BURST + 1);
    fastPath.mockRestore();
    const ok = results.filter((r) => r.response.status === 200);
    expect(ok).toHaveLength(BURST);
    for (const r of results.filter((r) => r.response.status !== 200)) expectProblem(r, 429, 'rate_limited');
    expect(ok.map((r) => r.response.headers.get('ratelimit-limit'))).toEqual(Array(BURST).fill(String(BURST)));
    expect(accepted.filter((m) => m.projectId === projectId).length - before).toBe(BURST);
    // The same token on another project's path is still refused, not let through by the cache.
    expectProblem(await send(newProject(), { auth }), 403, 'permission_denied');
  });

  it('answers 503 with Retry-After, not 200, when the message cannot be made durable', async () => {
    const result = await send(brokenProject);
    expectProblem(result, 503, 'unavailable');
    expect(result.response.headers.get('retry-after')).toBe('1');
    expect(result.body['id']).toBeUndefined();
  });

  it('describes a project known from the registry, refuses unknown ones and inactive senders', async () => {
    const projectId = newProject();
    const inactive = newProject();
    await bus.publish(Topics.registry, [
      {
        value: {
          kind: 'project',
          project: { id: projectId, tenantId: 't1', name: 'Demo', isActive: true, serviceAccount: { clientId: 'client-1', createdAtMs: Date.UTC(2026, 0, 2) }, createdAtMs: Date.UTC(2026, 0, 1), updatedAtMs: Date.UTC(2026, 0, 3) },
        },
      },
      { value: { kind: 'project', project: { id: inactive, tenantId: 't1', name: 'Off', isActive: false, serviceAccount: null, createdAtMs: 1, updatedAtMs: 2 } } },
    ]);
    const { response, body } = await get(`/projects/${projectId}`, `Bearer ${await token(projectId, { scope: 'project:read' })}`);
    expect(response.status).toBe(200);
    expect(body).toEqual({
      id: projectId,
      name: 'Demo',
      isActive: true,
      serviceAccount: { clientId: 'client-1', createdAt: '2026-01-02T00:00:00.000Z' },
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-03T00:00:00.000Z',
    });
    const unknown = newProject();
    expectProblem(await get(`/projects/${unknown}`, `Bearer ${await token(unknown)}`), 404, 'not_found');
    expectProblem(await get(`/projects/${projectId}`, `Bearer ${await token(projectId, { scope: 'message:update' })}`), 403, 'permission_denied');
    expectProblem(await send(inactive), 403, 'permission_denied');
  });

  it('reports a message status through the MessageStatusReader, 404 for unknown messages', async () => {
    const projectId = newProject();
    const auth = `Bearer ${await token(projectId)}`;
    const { response, body } = await get(`/projects/${projectId}/messages/${knownStatus.id}`, auth);
    expect(response.status).toBe(200);
    expect(body).toEqual({ ...knownStatus, projectId });
    expectProblem(await get(`/projects/${projectId}/messages/018f0000-0000-7000-8000-00000000ffff`, auth), 404, 'not_found');
    expectProblem(await get(`/projects/${projectId}/messages/not-an-id`, auth), 404, 'not_found');
  });

  it('cancels a message: 200 with the cancelled status once push-core applied it, idempotent', async () => {
    const projectId = `owner-${randomToken(6)}`;
    const auth = `Bearer ${await token(projectId)}`;
    const first = await call('DELETE', `/projects/${projectId}/messages/${pendingId}`, auth);
    expect(first.response.status).toBe(200);
    expect(first.body).toMatchObject({ id: pendingId, projectId, state: 'cancelled', counts: { pending: 0, cancelled: 1 } });
    expect(cancelRequests.filter((r) => r.projectId === projectId)).toEqual([
      { requestId: expect.any(String), projectId, messageId: pendingId, atMs: expect.any(Number) },
    ]);
    // Again: the same answer, and nothing left to publish.
    const again = await call('DELETE', `/projects/${projectId}/messages/${pendingId}`, auth);
    expect(again.response.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(cancelRequests.filter((r) => r.projectId === projectId)).toHaveLength(1);
    // A delivered message: nothing to cancel, its status unchanged.
    const delivered = await call('DELETE', `/projects/${projectId}/messages/${knownStatus.id}`, auth);
    expect(delivered.response.status).toBe(200);
    expect(delivered.body).toMatchObject({ state: 'delivered', cancelledAt: null });
  });

  it('answers 202 when the cancel is durable but push-core has not applied it within a few seconds', async () => {
    const projectId = `owner-${randomToken(6)}`;
    const { response, body } = await call('DELETE', `/projects/${projectId}/messages/${stuckId}`, `Bearer ${await token(projectId)}`);
    expect(response.status).toBe(202);
    expect(body).toMatchObject({ id: stuckId, state: 'stored' });
    expect(cancelRequests.filter((r) => r.projectId === projectId)).toHaveLength(1);
  });

  it('cancel: 404 for another project’s message or an id that is none, 403 without message:update or with another project’s token, 503 when not durable', async () => {
    const owner = `owner-${randomToken(6)}`;
    const stranger = newProject();
    const strangerAuth = `Bearer ${await token(stranger)}`;
    expectProblem(await call('DELETE', `/projects/${stranger}/messages/${pendingId}`, strangerAuth), 404, 'not_found');
    expectProblem(await call('DELETE', `/projects/${stranger}/messages/not-a-message-id`, strangerAuth), 404, 'not_found');
    expectProblem(await call('DELETE', `/projects/${owner}/messages/${pendingId}`, strangerAuth), 403, 'permission_denied');
    expectProblem(await call('DELETE', `/projects/${owner}/messages/${pendingId}`, `Bearer ${await token(owner, { scope: 'project:read' })}`), 403, 'permission_denied');
    expectProblem(await call('DELETE', `/projects/${owner}/messages/${pendingId}`, null), 401, 'unauthenticated');
    expect(cancelRequests.filter((r) => r.projectId === owner || r.projectId === stranger)).toEqual([]);
    const broken = `owner-broken-${randomToken(6)}`;
    const unavailable = await call('DELETE', `/projects/${broken}/messages/${pendingId}`, `Bearer ${await token(broken)}`);
    expectProblem(unavailable, 503, 'unavailable');
    expect(unavailable.response.headers.get('retry-after')).toBe('1');
  });

  it('describes a registration and its topics, and unregisters it once (200, idempotent)', async () => {
    const projectId = `owner-${randomToken(6)}`;
    const auth = `Bearer ${await token(projectId)}`;
    const shown = await get(`/projects/${projectId}/registrations/reg-owned`, auth);
    expect(shown.response.status).toBe(200);
    expect(shown.body).toMatchObject({ registrationId: 'reg-owned', projectId, applicationId: 'app-1', online: true, unregisteredAt: null, topics: ['news'] });
    const topics = await get(`/projects/${projectId}/registrations/reg-owned/topics`, auth);
    expect(topics.response.status).toBe(200);
    expect(topics.body).toEqual({ registrationId: 'reg-owned', projectId, topics: [{ topic: 'news', subscribedAt: '2026-01-01T00:00:00.000Z' }] });

    const removed = await call('DELETE', `/projects/${projectId}/registrations/reg-owned`, auth);
    expect(removed.response.status).toBe(200);
    expect(removed.body).toMatchObject({ registrationId: 'reg-owned', unregisteredAt: expect.any(String), online: false });
    expect(unregisterRequests.filter((r) => r.projectId === projectId)).toEqual([
      { requestId: expect.any(String), projectId, registrationId: 'reg-owned', atMs: expect.any(Number) },
    ]);
    const again = await call('DELETE', `/projects/${projectId}/registrations/reg-owned`, auth);
    expect(again.response.status).toBe(200);
    expect(unregisterRequests.filter((r) => r.projectId === projectId)).toHaveLength(1);
  });

  it('registrations: 404 for another project’s or an unknown one, 400 naming registrationId for a malformed id, 403 by scope and project', async () => {
    const owner = `owner-${randomToken(6)}`;
    const stranger = newProject();
    const strangerAuth = `Bearer ${await token(stranger)}`;
    for (const [method, path] of [
      ['GET', ''],
      ['GET', '/topics'],
      ['DELETE', ''],
    ] as const) {
      const foreign = await call(method, `/projects/${stranger}/registrations/reg-owned${path}`, strangerAuth);
      expectProblem(foreign, 404, 'not_found');
      expect(JSON.stringify(foreign.body)).not.toContain('app-1');
      expectProblem(await call(method, `/projects/${owner}/registrations/reg-owned${path}`, strangerAuth), 403, 'permission_denied');
      const malformed = await call(method, `/projects/${stranger}/registrations/${'x'.repeat(129)}${path}`, strangerAuth);
      expectProblem(malformed, 400, 'invalid_argument');
      expect(malformed.body['errors']).toEqual({ registrationId: expect.any(String) });
      const spaces = await call(method, `/projects/${stranger}/registrations/a%20b${path}`, strangerAuth);
      expectProblem(spaces, 400, 'invalid_argument');
    }
    expectProblem(await call('DELETE', `/projects/${owner}/registrations/reg-owned`, `Bearer ${await token(owner, { scope: 'project:read' })}`), 403, 'permission_denied');
    expectProblem(await call('GET', `/projects/${owner}/registrations/reg-owned`, `Bearer ${await token(owner, { scope: 'message:update' })}`), 403, 'permission_denied');
    expect(unregisterRequests.filter((r) => r.projectId === owner || r.projectId === stranger)).toEqual([]);
  });

  it('lists messages: passes validated parameters on, 400 naming each bad one, 403 for another project', async () => {
    const projectId = newProject();
    const auth = `Bearer ${await token(projectId)}`;
    const listed = await get(`/projects/${projectId}/messages?state=delivered&since=2026-01-01T00:00:00Z&limit=5`, auth);
    expect(listed.response.status).toBe(200);
    expect(listed.body).toMatchObject({ projectId, messages: [{ id: knownStatus.id, state: 'delivered' }], nextCursor: null });
    expect(listCalls.filter((c) => c.projectId === projectId)).toEqual([{ projectId, params: { state: 'delivered', sinceMs: Date.UTC(2026, 0, 1), limit: 5, after: null } }]);

    const bad = await get(`/projects/${projectId}/messages?state=lost&limit=1000&cursor=xyz&since=soon`, auth);
    expectProblem(bad, 400, 'invalid_argument');
    expect(Object.keys(bad.body['errors'] as object).sort()).toEqual(['cursor', 'limit', 'since', 'state']);
    expectProblem(await get(`/projects/${projectId}/messages?limit=10&limit=20`, auth), 400, 'invalid_argument');
    expectProblem(await get(`/projects/${projectId}/messages?limit=abc`, auth), 400, 'invalid_argument');
    expectProblem(await get(`/projects/${newProject()}/messages`, auth), 403, 'permission_denied');
    expectProblem(await get(`/projects/${projectId}/messages`, `Bearer ${await token(projectId, { scope: 'message:update' })}`), 403, 'permission_denied');
    expect(listCalls.filter((c) => c.projectId === projectId)).toHaveLength(1);
  });

  describe('multicast', () => {
    const multicast = async (projectId: string, body: unknown, auth?: string, headers?: Record<string, string>) =>
      send(projectId, { path: `${BASE}/projects/${projectId}/messages/multicast`, body: JSON.stringify(body), ...(auth ? { auth } : {}), ...(headers ? { headers } : {}) });
    const notification = { title: 'Hi', message: 'all of you' };

    it('honours Idempotency-Key: a retry gets the whole first answer and sends nothing; another body is a 422; keys are apart from single sends', async () => {
      const projectId = `owner-${randomToken(6)}`;
      const key = `fanfare-${randomToken(8)}`;
      const body = { registration_ids: ['live-a', 'nobody', 'live-b'], ttl: '1h', notification };
      const first = await multicast(projectId, body, undefined, { 'idempotency-key': key });
      const retry = await multicast(projectId, body, undefined, { 'idempotency-key': key });
      expect([first.response.status, retry.response.status]).toEqual([200, 200]);
      expect(retry.body).toEqual(first.body);
      expect(first.body['recipients']).toHaveLength(3);
      expect(retry.response.headers.get('idempotent-replayed')).toBe('true');
      expect(first.response.headers.get('idempotent-replayed')).toBeNull();
      expect(accepted.filter((m) => m.projectId === projectId)).toHaveLength(1);
      expectProblem(await multicast(projectId, { ...body, ttl: '2h' }, undefined, { 'idempotency-key': key }), 422, 'conflict');
      expectProblem(await multicast(projectId, body, undefined, { 'idempotency-key': 'with space' }), 400, 'invalid_argument');
      // The same key on the single send is another request, not a replay.
      const single = await send(projectId, { headers: { 'idempotency-key': key } });
      expect(single.response.status).toBe(200);
      expect(single.body['id']).not.toBe(first.body['id']);
    });

    it('sends one message to the live registrations and reports every id on its own', async () => {
      const projectId = `owner-${randomToken(6)}`;
      const { response, body } = await multicast(projectId, { registration_ids: ['live-a', 'live-b', 'live-a', 'a b', 'nobody', 'x'.repeat(129)], ttl: '1h', notification });
      expect(response.status).toBe(200);
      expect(body['recipients']).toEqual([
        { registrationId: 'live-a', status: 'accepted' },
        { registrationId: 'live-b', status: 'accepted' },
        { registrationId: 'a b', status: 'rejected', code: 'invalid_argument', detail: expect.any(String) },
        { registrationId: 'nobody', status: 'rejected', code: 'not_found', detail: expect.any(String) },
        { registrationId: 'x'.repeat(129), status: 'rejected', code: 'invalid_argument', detail: expect.any(String) },
      ]);
      expect(accepted.filter((m) => m.projectId === projectId)).toEqual([
        expect.objectContaining({ messageId: body['id'], target: { type: 'registrations', value: '2' }, registrationIds: ['live-a', 'live-b'], ttlSeconds: 3600 }),
      ]);
      // Two recipients took two of the three tokens of the burst.
      expect(response.headers.get('ratelimit-remaining')).toBe('1');
    });

    it('takes the quota once per recipient: more recipients than tokens is a 429, and nothing is sent', async () => {
      const projectId = `owner-${randomToken(6)}`;
      const tooMany = await multicast(projectId, { registration_ids: ['live-1', 'live-2', 'live-3', 'live-4'], notification });
      expectProblem(tooMany, 429, 'rate_limited');
      expect((await multicast(projectId, { registration_ids: ['live-1', 'live-2', 'live-3'], notification })).response.status).toBe(200);
      expectProblem(await send(projectId), 429, 'rate_limited');
      expect(accepted.filter((m) => m.projectId === projectId)).toHaveLength(1);
    });

    it('reports another project’s registrations as not found, sends nothing and takes no quota', async () => {
      const stranger = newProject();
      const { response, body } = await multicast(stranger, { registration_ids: ['reg-owned', 'live-a'], notification });
      expect(response.status).toBe(200);
      expect(body).toEqual({
        id: null,
        recipients: [
          { registrationId: 'reg-owned', status: 'rejected', code: 'not_found', detail: 'no live registration with this id in this project' },
          { registrationId: 'live-a', status: 'rejected', code: 'not_found', detail: 'no live registration with this id in this project' },
        ],
      });
      expect(accepted.filter((m) => m.projectId === stranger)).toEqual([]);
    });

    it('hostile input: a 400 naming the field for wrong types, oversize or empty lists, send fields; 403 without the scope', async () => {
      const projectId = `owner-${randomToken(6)}`;
      const cases: [unknown, string][] = [
        [{ notification }, 'registration_ids'],
        [{ registration_ids: 'live-a', notification }, 'registration_ids'],
        [{ registration_ids: [], notification }, 'registration_ids'],
        [{ registration_ids: Array.from({ length: 1001 }, (_, i) => `live-${i}`), notification }, 'registration_ids'],
        [{ registration_ids: ['live-a', 7], notification }, 'registration_ids[1]'],
        [{ registration_ids: ['live-a'], target: 'live-a', notification }, 'target'],
        [{ registration_ids: ['live-a'] }, 'notification'],
        [{ registration_ids: ['live-a'], notification: { title: 'x'.repeat(513) } }, 'notification.title'],
        [{ registration_ids: ['live-a'], notification, ttl: '1d' }, 'ttl'],
        [{ registration_ids: ['live-a'], notification, extra: true }, 'extra'],
        [['live-a'], 'body'],
      ];
      for (const [body, field] of cases) {
        const answer = await multicast(projectId, body);
        expectProblem(answer, 400, 'invalid_argument');
        expect(Object.keys(answer.body['errors'] as object)).toContain(field);
      }
      expectProblem(await send(projectId, { path: `${BASE}/projects/${projectId}/messages/multicast`, body: '{"registration_ids": [' }), 400, 'malformed_body');
      expectProblem(await multicast(projectId, { registration_ids: ['live-a'], notification }, `Bearer ${await token(projectId, { scope: 'project:read' })}`), 403, 'permission_denied');
      expect(accepted.filter((m) => m.projectId === projectId)).toEqual([]);
    });
  });

  it('delivers to groups: application and topic targets are published as given', async () => {
    const projectId = newProject();
    const toApp = await send(projectId, { body: JSON.stringify({ ...message, type: 'application', target: 'app_42' }) });
    const toTopic = await send(projectId, { body: JSON.stringify({ ...message, type: 'topic', target: 'news' }) });
    expect([toApp.response.status, toTopic.response.status]).toEqual([200, 200]);
    expect(accepted.find((m) => m.messageId === toApp.body['id'])?.target).toEqual({ type: 'application', value: 'app_42' });
    expect(accepted.find((m) => m.messageId === toTopic.body['id'])?.target).toEqual({ type: 'topic', value: 'news' });
  });

  it('honours Idempotency-Key through Redis: same id and one publish for a retry, 422 for another body', async () => {
    const projectId = newProject();
    const key = `order-${randomToken(8)}`;
    const first = await send(projectId, { headers: { 'idempotency-key': key } });
    const retry = await send(projectId, { headers: { 'idempotency-key': key }, body: JSON.stringify(message, null, 2) });
    expect(first.response.status).toBe(200);
    expect(retry.response.status).toBe(200);
    expect(retry.body['id']).toBe(first.body['id']);
    expect(retry.response.headers.get('idempotent-replayed')).toBe('true');
    expect(accepted.filter((m) => m.projectId === projectId)).toHaveLength(1);
    // The retry did not spend quota either.
    expect((await send(projectId)).response.headers.get('ratelimit-remaining')).toBe(String(BURST - 2));

    const other = await send(projectId, { headers: { 'idempotency-key': key }, body: JSON.stringify({ ...message, ttl: '2h' }) });
    expectProblem(other, 422, 'conflict');
    expect(other.body['detail']).toContain(key);
    expect(await redis.exists(`borealis:idempotency:${projectId}/${key}`)).toBe(1);
  });

  it('refuses a token whose key auth revoked, as soon as the registry event arrives', async () => {
    const projectId = newProject();
    const keyId = `key-${randomToken(6)}`;
    const auth = `Bearer ${await token(projectId, { keyId })}`;
    const keyEvent = (revokedAtMs: number | null, updatedAtMs: number) => ({
      kind: 'service-account-key',
      key: { id: keyId, clientId: 'client-1', projectId, revokedAtMs, expiresAtMs: null, createdAtMs: 1, updatedAtMs },
    });
    await registry(keyEvent(null, 1));
    expect((await send(projectId, { auth })).response.status).toBe(200);
    await registry(keyEvent(Date.now(), 2));
    const refused = await send(projectId, { auth });
    expectProblem(refused, 401, 'unauthenticated');
    expect(refused.body['detail']).toBe('the access token was obtained with a revoked key');
    expect(refused.response.headers.get('www-authenticate')).toContain('invalid_token');
  });

  it('refuses sends to a project deactivated after its token was issued', async () => {
    const projectId = newProject();
    const auth = `Bearer ${await token(projectId)}`;
    const project = (isActive: boolean, updatedAtMs: number) => ({
      kind: 'project',
      project: { id: projectId, tenantId: 't1', name: 'P', isActive, serviceAccount: null, createdAtMs: 1, updatedAtMs },
    });
    await registry(project(true, 1));
    expect((await send(projectId, { auth })).response.status).toBe(200);
    await registry(project(false, 2));
    expectProblem(await send(projectId, { auth }), 403, 'permission_denied');
    // Reading stays possible, so that the app server can see why.
    expect((await get(`/projects/${projectId}`, auth)).body['isActive']).toBe(false);
  });

  it('publishes topic (un)subscriptions for a registration and answers 202', async () => {
    const projectId = newProject();
    const auth = `Bearer ${await token(projectId)}`;
    const path = `${BASE}/projects/${projectId}/registrations/reg-9/topics/news.eu`;
    const on = await fetch(baseUrl + path, { method: 'POST', headers: { authorization: auth } });
    const off = await fetch(baseUrl + path, { method: 'DELETE', headers: { authorization: auth } });
    expect([on.status, off.status]).toEqual([202, 202]);
    const mine = subscriptionRequests.filter((r) => r.projectId === projectId);
    expect(mine.map((r) => [r.op, r.registrationId, r.topics])).toEqual([
      ['subscribe', 'reg-9', ['news.eu']],
      ['unsubscribe', 'reg-9', ['news.eu']],
    ]);
    expect(mine[0]!.requestId).toBe(((await on.json()) as { requestId: string }).requestId);

    const bad = await fetch(baseUrl + `${BASE}/projects/${projectId}/registrations/reg-9/topics/a%20b`, { method: 'POST', headers: { authorization: auth } });
    expectProblem({ response: bad, body: (await bad.json()) as Record<string, unknown> }, 400, 'invalid_argument');
    const readOnly = `Bearer ${await token(projectId, { scope: 'project:read' })}`;
    expect((await fetch(baseUrl + path, { method: 'POST', headers: { authorization: readOnly } })).status).toBe(403);
  });

  it('reports per-day statistics through the ProjectStatsReader and validates the range', async () => {
    const projectId = newProject();
    const auth = `Bearer ${await token(projectId)}`;
    const { response, body } = await get(`/projects/${projectId}/stats?from=2026-01-01&to=2026-01-31`, auth);
    expect(response.status).toBe(200);
    expect(body).toEqual({ projectId, from: '2026-01-01', to: '2026-01-31', days: [{ date: '2026-01-01', accepted: 4, delivered: 3, expired: 1, failed: 0, cancelled: 0 }] });
    const bad = await get(`/projects/${projectId}/stats?from=2026-02-01&to=2026-01-01`, auth);
    expectProblem(bad, 400, 'invalid_argument');
    expect(bad.body['errors']).toEqual({ from: 'must not be after to' });
  });

  it('answers as the OpenAPI document it serves says: a send, a multicast, the project, a refusal', async () => {
    const served = (await (await fetch(`${baseUrl}${BASE}/openapi.json`)).json()) as { components: object };
    const document = documentValidator(served);
    const conforms = (name: string, body: unknown) => {
      const validate = document.component(name);
      expect({ name, body, valid: validate(body), errors: validate.errors ?? null }).toEqual({ name, body, valid: true, errors: null });
    };
    const projectId = `owner-${randomToken(6)}`;
    const sent = await send(projectId);
    expect(sent.response.status).toBe(200);
    conforms('SendResult', sent.body);
    const multicast = await send(projectId, { path: `${BASE}/projects/${projectId}/messages/multicast`, body: JSON.stringify({ registration_ids: ['live-a', 'nobody', 'a b'], notification: { data: { sync: true } } }) });
    expect(multicast.response.status).toBe(200);
    conforms('MulticastResult', multicast.body);
    const refused = await send(projectId, { body: JSON.stringify({ ...message, notification: {}, colour: 'red' }) });
    expectProblem(refused, 400, 'invalid_argument');
    conforms('Problem', refused.body);
    await registry({ kind: 'project', project: { id: projectId, tenantId: 't1', name: 'Demo', isActive: true, serviceAccount: null, createdAtMs: 1, updatedAtMs: 2 } });
    const project = await get(`/projects/${projectId}`, `Bearer ${await token(projectId, { scope: 'project:read' })}`);
    expect(project.response.status).toBe(200);
    conforms('Project', project.body);
  });

  it('serves the OpenAPI document and its UI', async () => {
    const doc = await fetch(`${baseUrl}${BASE}/openapi.json`);
    expect(doc.status).toBe(200);
    const body = (await doc.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(body.openapi).toBe('3.1.0');
    expect(Object.keys(body.paths)).toEqual(expect.arrayContaining(['/projects/{project_id}/messages', '/projects/{project_id}/stats']));
    const ui = await fetch(`${baseUrl}${BASE}/docs`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain(`${BASE}/openapi.json`);
    const bundle = await fetch(`${baseUrl}${BASE}/docs/swagger-ui-bundle.js`);
    expect([bundle.status, bundle.headers.get('content-type')]).toEqual([200, 'text/javascript; charset=utf-8']);
    expect((await bundle.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
    expect((await fetch(`${baseUrl}${BASE}/docs/..%2Fpackage.json`)).status).toBe(404);
  });

  it('sends the docs page and its files with security headers: a CSP that runs only its own scripts and forbids framing, nosniff (issue 15, finding 8)', async () => {
    const ui = await fetch(`${baseUrl}${BASE}/docs`);
    const inline = /<script>([^<]*)<\/script>/.exec(await ui.text())![1]!;
    const csp = ui.headers.get('content-security-policy') ?? '';
    expect(csp).toContain(`script-src 'self' 'sha256-${createHash('sha256').update(inline).digest('base64')}'`);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    expect([ui.headers.get('x-content-type-options'), ui.headers.get('x-frame-options'), ui.headers.get('referrer-policy')]).toEqual(['nosniff', 'DENY', 'no-referrer']);
    for (const file of ['swagger-ui-bundle.js', 'swagger-ui.css', 'constructor']) {
      const response = await fetch(`${baseUrl}${BASE}/docs/${file}`);
      // Every body read, so that no response is left half-consumed when the suite closes the app.
      await response.arrayBuffer();
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });

  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'])(
    'answers 404 problem+json, not cached, for docs/%s (a name every object inherits), and keeps serving the real files',
    async (name) => {
      for (let attempt = 0; attempt < 2; attempt++) {
        const response = await fetch(`${baseUrl}${BASE}/docs/${name}`);
        expectProblem({ response, body: (await response.json()) as Record<string, unknown> }, 404, 'not_found');
        expect(response.headers.get('cache-control') ?? '').not.toMatch(/public|max-age/);
      }
      const css = await fetch(`${baseUrl}${BASE}/docs/swagger-ui.css`);
      await css.arrayBuffer();
      expect([css.status, css.headers.get('content-type'), css.headers.get('cache-control')]).toEqual([200, 'text/css; charset=utf-8', 'public, max-age=86400']);
    },
  );

  describe('hostile input: a precise problem+json each time, and the server keeps serving', () => {
    afterEach(async () => {
      const { response } = await send(newProject());
      expect(response.status).toBe(200);
    });

    it.each([
      ['wrong types', { target: 1, type: 'device', notification: { title: [], message: {} } }, { target: 'must be a string', 'notification.title': 'must be a string', 'notification.message': 'must be a string' }],
      ['an unknown type', { ...message, type: 'everyone' }, { type: 'must be "device", "application" or "topic"' }],
      ['a JSON array', [message], { body: 'must be a JSON object' }],
      ['a bad ttl', { ...message, ttl: '1d' }, { ttl: 'must be a duration like "5h30m" (units h, m, s) of at most 28 days' }],
      ['a whitespace-only target', { ...message, target: ' ' }, { target: 'must be a registrationId: 1 to 256 letters, digits or -_.~%' }],
      ['an application target with a space', { ...message, type: 'application', target: 'app 1' }, { target: 'must be an applicationId: 1 to 256 letters, digits or -_.~%' }],
    ])('%s: 400 invalid_argument naming the fields', async (_name, body, errors) => {
      const result = await send(newProject(), { body: JSON.stringify(body) });
      expectProblem(result, 400, 'invalid_argument');
      expect(result.body['errors']).toEqual(errors);
    });

    it('an empty body: 400 malformed_body', async () => {
      expectProblem(await send(newProject(), { body: '' }), 400, 'malformed_body');
    });

    it('a 1 MB body: 413 payload_too_large, refused on its Content-Length before it is read', async () => {
      const answer = await rawHttp(
        `POST ${BASE}/projects/p/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${1024 * 1024}\r\n\r\n{"target":`,
      );
      expect(answer).toMatch(/^HTTP\/1.1 413/);
      expect(answer).toContain('application/problem+json');
      expect(answer).toContain('"code":"payload_too_large"');
    });

    it('a 1 MB body actually sent: 413', async () => {
      const projectId = newProject();
      const result = await send(projectId, { body: JSON.stringify({ ...message, notification: { title: 't', message: 'm', data: { x: 'y'.repeat(1024 * 1024) } } }) }).catch(() => null);
      // The server may close the connection while the client still writes; either way nothing was accepted.
      if (result !== null) expectProblem(result, 413, 'payload_too_large');
      expect(accepted.some((m) => m.projectId === projectId)).toBe(false);
    });

    it('deeply nested data: 400 naming notification.data, for nesting the JSON parser survives and beyond', async () => {
      for (const depth of [33, 10_000]) {
        const data = '{"d":'.repeat(depth) + '1' + '}'.repeat(depth);
        const body = `{"target":"r","type":"device","notification":{"title":"t","message":"m","data":${data}}}`;
        const result = await send(newProject(), { body });
        expect(result.response.status).toBe(400);
        expect(result.response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        if (result.body['code'] === 'invalid_argument') expect(Object.keys(result.body['errors'] as object)).toEqual(['notification.data']);
        else expect(result.body['code']).toBe('malformed_body');
      }
    });

    it('invalid UTF-8: 400 malformed_body, not a title full of U+FFFD', async () => {
      const prefix = Buffer.from('{"target":"r","type":"device","notification":{"title":"');
      const body = Buffer.concat([prefix, Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('","message":"m"}}')]);
      const projectId = newProject();
      const result = await send(projectId, { body: new Uint8Array(body) });
      expectProblem(result, 400, 'malformed_body');
      expect(result.body['detail']).toBe('request body is not valid UTF-8');
      expect(accepted.some((m) => m.projectId === projectId)).toBe(false);
    });

    it('a JSON body with only an Accept header (no Content-Type) is read as JSON', async () => {
      const projectId = newProject();
      const response = await fetch(`${baseUrl}${BASE}/projects/${projectId}/messages`, {
        method: 'POST',
        headers: { accept: 'application/json', authorization: `Bearer ${await token(projectId)}` },
        body: Buffer.from(JSON.stringify(message)),
      });
      expect(response.status).toBe(200);
    });

    it('a non-JSON Content-Type: 415 unsupported_media_type', async () => {
      expectProblem(await send(newProject(), { headers: { 'content-type': 'application/xml' } }), 415, 'unsupported_media_type');
    });

    it('prototype pollution keys: 400', async () => {
      const result = await send(newProject(), { body: '{"target":"r","type":"device","notification":{"title":"t","message":"m","data":{"__proto__":{"admin":true}}}}' });
      expect(result.response.status).toBe(400);
      expect(result.response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    });

    it('header injection: CR/LF in a header value is refused as bad HTTP with problem+json', async () => {
      const answer = await rawHttp(`GET ${BASE}/projects/p HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\rX-Injected: 1\r\n\r\n`);
      expect(answer).toMatch(/^HTTP\/1.1 400/);
      expect(answer).toContain('application/problem+json');
      expect(answer).toContain('"code":"invalid_argument"');
    });

    it('header injection: a bad Idempotency-Key is a 400 naming it, and is never echoed', async () => {
      const result = await send(newProject(), { headers: { 'idempotency-key': 'a b\tc' } });
      expectProblem(result, 400, 'invalid_argument');
      expect(result.body['errors']).toEqual({ 'Idempotency-Key': 'must be 1 to 255 visible ASCII characters' });
      expect([...result.response.headers.entries()].filter(([name, value]) => name === 'idempotency-key' || value.includes('a b'))).toEqual([]);
    });

    it('a token with a smuggled second value or junk in Authorization: 401', async () => {
      const projectId = newProject();
      const good = await token(projectId);
      for (const auth of [`Bearer ${good}, Bearer ${good}`, `Bearer ${good}\u0000`, `Basic ${good}`]) {
        const result = await send(projectId, { auth }).catch(() => null);
        if (result === null) continue; // fetch itself refuses to send some of these
        expectProblem(result, 401, 'unauthenticated');
      }
    });
  });
});
