import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import Redis from 'ioredis';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, expectEventually, freePort, requireKafka, requireRedis, startCli, type JsonLineProcess, type TestDatabase } from '@borealis/testing';
import { randomToken } from '@borealis/util';
import { startIngress } from './ingress';
import { http, quickstart, type Installation, type Project } from './support';

/**
 * A distributed installation for push-core's end-to-end tests: auth, gateway, one or more
 * push-core processes and several transport instances, each its own OS process (as in
 * distributed.e2e.ts), on the real Kafka test broker, PostgreSQL and Redis.
 */
export interface Cluster {
  work: string;
  installation: Installation;
  /** tcp://host:port of each transport instance. */
  transports: string[];
  coreDatabaseUrl: string;
  /** Base URLs of the push-core processes (internal API). */
  cores: string[];
  pushCore: JsonLineProcess[];
  /** Starts push-core number `index` again (after a kill). */
  restartCore(index: number): Promise<void>;
  project(name: string): Promise<Project>;
  close(): Promise<void>;
}

export interface ClusterOptions {
  transports: number;
  pushCores?: number;
  /** Extra environment for the push-core processes (e.g. NODE_OPTIONS for a test preload). */
  coreEnv?: Record<string, string>;
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const work = mkdtempSync(join(tmpdir(), 'borealis-push-core-'));
  const processes: JsonLineProcess[] = [];
  const databases: TestDatabase[] = [];
  const kafka = requireKafka();
  const redis = requireRedis();
  const [authDb, coreDb] = [await createTestDatabase('auth'), await createTestDatabase('core')];
  databases.push(authDb, coreDb);
  const [authPort, gatewayPort] = [await freePort(), await freePort()];
  const corePorts = await Promise.all(Array.from({ length: options.pushCores ?? 1 }, () => freePort()));
  const transportPorts = await Promise.all(Array.from({ length: options.transports }, async () => ({ http: await freePort(), device: await freePort() })));
  const ingress = await startIngress({ auth: `http://127.0.0.1:${authPort}`, gateway: `http://127.0.0.1:${gatewayPort}` });
  const adminToken = randomToken(32);
  const common = {
    KAFKA_BROKERS: kafka,
    KAFKA_TOPIC_CREATION: 'admin',
    KAFKA_SESSION_TIMEOUT_MS: '6000',
    KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
    KAFKA_MAX_WAIT_MS: '50',
    REDIS_URL: redis,
    HTTP_HOST: '127.0.0.1',
    BOREALIS_PUBLIC_URL: ingress.url,
  };
  const start = (service: string, env: Record<string, string>, name = service) => {
    const proc = startCli(['serve', '--service', service], { ...common, ...env }, name);
    processes.push(proc);
    return proc;
  };
  const coreEnv = (port: number) => ({ HTTP_PORT: String(port), DATABASE_URL: coreDb.url, PUSH_SWEEP_INTERVAL_MS: '1000', ...options.coreEnv });
  const pushCore = corePorts.map((port, i) => start('push-core', coreEnv(port), `push-core-${i}`));
  const tag = randomToken(4).toLowerCase().replace(/[^a-z0-9]/g, 'x');
  const started = [
    start('auth', { HTTP_PORT: String(authPort), DATABASE_URL: authDb.url, BOREALIS_ADMIN_TOKEN: adminToken, SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'), BOREALIS_DEVICE_URL: `tcp://127.0.0.1:${transportPorts[0]!.device}` }),
    start('gateway', {
      HTTP_PORT: String(gatewayPort),
      AUTH_JWKS_URL: `http://127.0.0.1:${authPort}/auth/public/.well-known/jwks.json`,
      PUSH_CORE_URL: `http://127.0.0.1:${corePorts[0]}`,
    }),
    ...transportPorts.map((ports, i) =>
      start(
        'transport',
        {
          HTTP_PORT: String(ports.http),
          TRANSPORT_INSTANCE_ID: `t-${tag}-${i}`,
          DEVICE_HOST: '127.0.0.1',
          DEVICE_PORT: String(ports.device),
          DEVICE_CREDENTIAL_SECRET: adminToken,
          HEARTBEAT_INTERVAL_MS: '5000',
        },
        `transport-${i}`,
      ),
    ),
    ...pushCore,
  ];
  const ready = async (port: number) =>
    expectEventually(async () => expect((await http(`http://127.0.0.1:${port}/readyz`)).status).toBe(200), { timeoutMs: 60_000, intervalMs: 250 });
  await Promise.all(started.map((p) => p.waitFor((l) => l['event'] === 'ready', 60_000, 'ready')));
  await Promise.all([authPort, gatewayPort, ...corePorts, ...transportPorts.map((p) => p.http)].map(ready));

  const installation: Installation = { httpUrl: ingress.url, deviceUrl: `tcp://127.0.0.1:${transportPorts[0]!.device}`, adminEnv: { BOREALIS_ADMIN_TOKEN: adminToken, SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') } };
  return {
    work,
    installation,
    transports: transportPorts.map((p) => `tcp://127.0.0.1:${p.device}`),
    coreDatabaseUrl: coreDb.url,
    cores: corePorts.map((port) => `http://127.0.0.1:${port}`),
    pushCore,
    async restartCore(index) {
      const proc = start('push-core', coreEnv(corePorts[index]!), `push-core-${index}`);
      pushCore[index] = proc;
      await proc.waitFor((l) => l['event'] === 'ready', 60_000, 'ready');
      await ready(corePorts[index]!);
    },
    project: (name) => quickstart(installation, join(work, name), name),
    async close() {
      await Promise.all(processes.map((p) => p.stop()));
      await ingress.close();
      await Promise.all(databases.map((d) => d.drop()));
      rmSync(work, { recursive: true, force: true });
    },
  };
}

/**
 * Waits until no transport holds the device whose state is in `stateDir` (its presence entry is
 * gone), so that a message sent next finds it offline rather than racing its disconnect.
 */
export async function expectOffline(stateDir: string): Promise<void> {
  const deviceId = (JSON.parse(readFileSync(join(stateDir, 'push-daemon.json'), 'utf8')) as { credentials: { deviceId: string } }).credentials.deviceId;
  const redis = new Redis(requireRedis(), { lazyConnect: true });
  await redis.connect();
  try {
    await expectEventually(async () => expect(await redis.exists(`borealis:presence:${deviceId}`)).toBe(0), { timeoutMs: 20_000, intervalMs: 100 });
  } finally {
    redis.disconnect();
  }
}

/** Every push id a device process printed, in order, with repeats (the app's view). */
export function pushIds(device: JsonLineProcess): string[] {
  return device.lines.filter((l) => l['event'] === 'notifications').flatMap((l) => (l['pushList'] as { id: string }[]).map((p) => p.id));
}

/** Waits until the device printed every one of `ids`. */
export async function expectReceived(device: JsonLineProcess, ids: readonly string[], timeoutMs = 30_000): Promise<void> {
  await expectEventually(() => expect(pushIds(device)).toEqual(expect.arrayContaining([...ids])), { timeoutMs, intervalMs: 200 });
}
