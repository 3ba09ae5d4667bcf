import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Global, Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { Topics, type MessageAcceptedV1, type MessageStatusV1 } from '@borealis/contracts';
import { MemoryPresenceStore, MemoryReplayGuard, RedisRateLimiter } from '@borealis/keyvalue';
import { InProcessMessageBus } from '@borealis/messaging';
import { configureHttpApp, createFastifyAdapter, PlatformModule } from '@borealis/platform';
import { requireRedis } from '@borealis/testing';
import { isUuid, randomToken, SystemClock } from '@borealis/util';
import Redis from 'ioredis';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { GatewayModule, MessageStatusReader } from './index';

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
  counts: { pending: 0, sent: 0, delivered: 1, expired: 0, failed: 0 },
  recipients: [{ registrationId: 'reg-1', state: 'delivered', updatedAt: '2026-01-01T00:00:01.000Z' }],
};

class StubStatusReader extends MessageStatusReader {
  async getStatus(projectId: string, messageId: string): Promise<MessageStatusV1 | null> {
    return messageId === knownStatus.id ? { ...knownStatus, projectId } : null;
  }
}

@Global()
@Module({ providers: [{ provide: MessageStatusReader, useClass: StubStatusReader }], exports: [MessageStatusReader] })
class StatusStubModule {}

let app: NestFastifyApplication;
let baseUrl: string;
let jwks: Server;
let redis: Redis;
let signingKey: CryptoKey;
let forgeryKey: CryptoKey;
const bus = new InProcessMessageBus({ maxAttempts: 1 });
const accepted: MessageAcceptedV1[] = [];
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
        consumerGroupPrefix: 'test.gateway',
      }),
    ],
  }).compile();
  app = moduleRef.createNestApplication<NestFastifyApplication>(createFastifyAdapter(), { logger: false, bodyParser: false });
  configureHttpApp(app);
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

function token(projectId: string, opts: { scope?: string; key?: CryptoKey; expiresInSeconds?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ project_id: projectId, scope: opts.scope ?? 'openid offline message:update project:read' })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'at+jwt' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject('client-1')
    .setIssuedAt(now - 600)
    .setExpirationTime(now + (opts.expiresInSeconds ?? 300))
    .sign(opts.key ?? signingKey);
}

const message = { target: 'reg-1', type: 'device', ttl: '1h', notification: { title: 'Hello', message: 'World', data: { deep: { link: '/x' } } } };

async function send(projectId: string, opts: { auth?: string | null; body?: string; path?: string } = {}) {
  const auth = opts.auth === undefined ? `Bearer ${await token(projectId)}` : opts.auth;
  const response = await fetch(baseUrl + (opts.path ?? `${BASE}/projects/${projectId}/messages`), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
    body: opts.body ?? JSON.stringify(message),
  });
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
  ])('answers 401 problem+json with a Bearer challenge for %s', async (_name, auth) => {
    const projectId = newProject();
    const result = await send(projectId, { auth: await auth(projectId) });
    expectProblem(result, 401, 'unauthenticated');
    expect(result.response.headers.get('www-authenticate')).toMatch(/^Bearer/);
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
});
