import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { Topics } from '@borealis/contracts';
import { MemoryPresenceStore, MemoryRateLimiter, MemoryReplayGuard, RedisRateLimiter, type RateLimiter } from '@borealis/keyvalue';
import { InProcessMessageBus, KafkaMessageBus, type MessageBus } from '@borealis/messaging';
import { configureHttpApp, createFastifyAdapter, PlatformModule, startBusConsumers } from '@borealis/platform';
import { expectEventually, freePort, startOwnKafkaBroker, type OwnKafkaBroker } from '@borealis/testing';
import { SystemClock } from '@borealis/util';
import Redis from 'ioredis';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { GatewayModule } from './index';

jest.setTimeout(60_000);

const ISSUER = 'https://borealis.test/auth/public';
const AUDIENCE = 'borealis-push';
const BASE = '/push/public/api/v1';
const message = JSON.stringify({ target: 'reg-1', type: 'device', ttl: '1h', notification: { title: 'T', message: 'M' } });

let jwks: Server;
let jwksUrl: string;
let signingKey: CryptoKey;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  signingKey = pair.privateKey;
  const keySet = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] });
  jwks = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(keySet));
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
});

afterAll(async () => {
  await new Promise((resolve) => jwks?.close(resolve));
});

async function startGateway(bus: MessageBus, rateLimiter: RateLimiter, burst: number) {
  const moduleRef = await Test.createTestingModule({
    imports: [
      PlatformModule.register({ bus, presence: new MemoryPresenceStore(), rateLimiter, replayGuard: new MemoryReplayGuard(), clock: new SystemClock() }),
      GatewayModule.register({ issuer: ISSUER, audience: AUDIENCE, accessTokenTtlSeconds: 3600, jwksUrl, rateLimit: { perSecond: 0.001, burst }, pushCoreUrl: 'http://127.0.0.1:9', consumerGroupPrefix: 'test.resilience' }),
    ],
  }).compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(createFastifyAdapter(), { logger: false, bodyParser: false });
  configureHttpApp(app);
  await startBusConsumers(app);
  await app.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  const send = async (projectId: string) => {
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ project_id: projectId, scope: 'message:update', client_key_id: 'key-1' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('client-1')
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(signingKey);
    const response = await fetch(`${url}${BASE}/projects/${projectId}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: message,
    });
    return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
  };
  return { app, send };
}

describe('gateway when Redis is unreachable', () => {
  it('fails open: limits in this process, so sends go on and the quota still holds per instance', async () => {
    const deadRedis = new Redis(`redis://127.0.0.1:${await freePort()}`, { maxRetriesPerRequest: 1, enableOfflineQueue: true });
    deadRedis.on('error', () => undefined);
    const bus = new InProcessMessageBus();
    const accepted: string[] = [];
    await bus.subscribe({ topic: Topics.messageAccepted, group: 'capture', handler: async (messages) => void accepted.push(...messages.map((m) => m.value.messageId)) });
    const { app, send } = await startGateway(bus, new RedisRateLimiter(deadRedis), 3);
    try {
      const results = [];
      for (let i = 0; i < 5; i++) results.push(await send('p-redis-down'));
      expect(results.map((r) => r.status)).toEqual([200, 200, 200, 429, 429]);
      expect(results[3]!.headers.get('retry-after')).not.toBeNull();
      expect(accepted).toEqual(results.slice(0, 3).map((r) => r.body['id']));
    } finally {
      await app.close();
      deadRedis.disconnect();
    }
  });
});

describe('gateway when the Kafka broker goes down', () => {
  let own: OwnKafkaBroker | undefined;
  afterAll(async () => {
    await own?.close();
  });

  it('answers 503 with Retry-After, never 200, and the message is not reported accepted', async () => {
    own = await startOwnKafkaBroker();
    const bus = new KafkaMessageBus({
      brokers: [own.brokers],
      clientId: 'gateway-resilience-test',
      topicCreation: 'admin',
      partitions: 1,
      replicationFactor: 1,
      sessionTimeoutMs: 6000,
      heartbeatIntervalMs: 1000,
      maxWaitTimeMs: 100,
      requestTimeoutMs: 1000,
    });
    const { app, send } = await startGateway(bus, new MemoryRateLimiter(), 100);
    try {
      await expectEventually(async () => expect((await send('p-kafka')).status).toBe(200), { timeoutMs: 20_000, intervalMs: 200 });
      await own.broker.kill();
      const refused = await send('p-kafka');
      expect(refused.status).toBe(503);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(refused.body).toMatchObject({ code: 'unavailable', detail: 'the message could not be made durable; retry' });
      expect(refused.body['id']).toBeUndefined();
    } finally {
      await app.close();
    }
  });
});
