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
  /** tcp://host:port of each transport instance, spare ones (not started yet) last. */
  transports: string[];
  coreDatabaseUrl: string;
  /** Base URLs of the push-core processes (internal API). */
  cores: string[];
  pushCore: JsonLineProcess[];
  /** Every service by name: auth, gateway, push-core-N, transport-N. */
  services: Map<string, Service>;
  /** Every process started so far, in start order (a restarted service has several). */
  processes: readonly JsonLineProcess[];
  service(name: string): Service;
  /** Starts push-core number `index` again (after a kill). */
  restartCore(index: number): Promise<void>;
  /** Starts transport `index` (a spare one, or one that was stopped) and waits until it is ready. */
  startTransport(index: number): Promise<Service>;
  project(name: string): Promise<Project>;
  close(): Promise<void>;
}

export interface Service {
  name: string;
  /** Base URL of its HTTP port (health, metrics, internal API). */
  httpUrl: string;
  /** The current process (replaced by start()). */
  proc: JsonLineProcess;
  /** kill -9, and waits until the process is gone. */
  kill(): Promise<void>;
  /** Starts it again (same ports, same configuration) and waits until /readyz answers 200. */
  start(): Promise<void>;
  /** 200 from /readyz within `timeoutMs`. */
  ready(timeoutMs?: number): Promise<void>;
}

export interface ClusterOptions {
  transports: number;
  /** Transport instances whose ports and ids are reserved but that start only with startTransport. */
  spareTransports?: number;
  pushCores?: number;
  /** Kafka bootstrap servers; the shared test broker by default. */
  brokers?: string;
  /** Extra environment for every service (e.g. KAFKA_TOPIC_PARTITIONS). */
  env?: Record<string, string>;
  /** Extra environment for the push-core processes. */
  coreEnv?: Record<string, string>;
  /** Extra environment for the transports. */
  transportEnv?: Record<string, string>;
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const work = mkdtempSync(join(tmpdir(), 'borealis-push-core-'));
  const processes: JsonLineProcess[] = [];
  const databases: TestDatabase[] = [];
  let ingress: { url: string; close(): Promise<void> } | undefined;
  const close = async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await ingress?.close();
    await Promise.all(databases.map((d) => d.drop()));
    rmSync(work, { recursive: true, force: true });
  };
  try {
    const kafka = options.brokers ?? requireKafka();
    const redis = requireRedis();
    const [authDb, coreDb] = [await createTestDatabase('auth'), await createTestDatabase('core')];
    databases.push(authDb, coreDb);
    const [authPort, gatewayPort] = [await freePort(), await freePort()];
    const corePorts = await Promise.all(Array.from({ length: options.pushCores ?? 1 }, () => freePort()));
    const transportCount = options.transports + (options.spareTransports ?? 0);
    const transportPorts = await Promise.all(Array.from({ length: transportCount }, async () => ({ http: await freePort(), device: await freePort() })));
    ingress = await startIngress({ auth: `http://127.0.0.1:${authPort}`, gateway: `http://127.0.0.1:${gatewayPort}` });
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
      ...options.env,
    };
    const tag = randomToken(4).toLowerCase().replace(/[^a-z0-9]/g, 'x');
    const services = new Map<string, Service>();
    const define = (name: string, service: string, port: number, env: Record<string, string>): Service => {
      const httpUrl = `http://127.0.0.1:${port}`;
      const spawn = () => {
        const proc = startCli(['serve', '--service', service], { ...common, ...env, HTTP_PORT: String(port) }, name);
        processes.push(proc);
        return proc;
      };
      const handle: Service = {
        name,
        httpUrl,
        proc: null as unknown as JsonLineProcess,
        async kill() {
          handle.proc.child.kill('SIGKILL');
          await handle.proc.exited;
        },
        async start() {
          handle.proc = spawn();
          await handle.proc.waitFor((l) => l['event'] === 'ready', 60_000, 'ready');
          await handle.ready();
        },
        async ready(timeoutMs = 60_000) {
          try {
            await expectEventually(async () => expect((await http(`${httpUrl}/readyz`)).status).toBe(200), { timeoutMs, intervalMs: 250 });
          } catch (err) {
            const checks = await http(`${httpUrl}/readyz`).catch(() => null);
            throw new Error(`${name} not ready within ${timeoutMs} ms (${JSON.stringify(checks?.body ?? 'no answer')})\n${handle.proc.tail(20)}`, { cause: err });
          }
        },
      };
      services.set(name, handle);
      return handle;
    };
    const coreEnv = { DATABASE_URL: coreDb.url, PUSH_SWEEP_INTERVAL_MS: '1000', ...options.coreEnv };
    const cores = corePorts.map((port, i) => define(`push-core-${i}`, 'push-core', port, coreEnv));
    define('auth', 'auth', authPort, { DATABASE_URL: authDb.url, BOREALIS_ADMIN_TOKEN: adminToken, SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'), BOREALIS_DEVICE_URL: `tcp://127.0.0.1:${transportPorts[0]!.device}` });
    define('gateway', 'gateway', gatewayPort, {
      AUTH_JWKS_URL: `http://127.0.0.1:${authPort}/auth/public/.well-known/jwks.json`,
      PUSH_CORE_URL: `http://127.0.0.1:${corePorts[0]}`,
    });
    const transports = transportPorts.map((ports, i) =>
      define(`transport-${i}`, 'transport', ports.http, {
        TRANSPORT_INSTANCE_ID: `t-${tag}-${i}`,
        DEVICE_HOST: '127.0.0.1',
        DEVICE_PORT: String(ports.device),
        DEVICE_CREDENTIAL_SECRET: adminToken,
        HEARTBEAT_INTERVAL_MS: '5000',
        ...options.transportEnv,
      }),
    );
    const initial = [...services.values()].filter((s) => !transports.slice(options.transports).includes(s));
    await Promise.all(initial.map((s) => s.start()));

    const installation: Installation = { httpUrl: ingress.url, deviceUrl: `tcp://127.0.0.1:${transportPorts[0]!.device}`, adminEnv: { BOREALIS_ADMIN_TOKEN: adminToken } };
    const cluster: Cluster = {
      work,
      installation,
      transports: transportPorts.map((p) => `tcp://127.0.0.1:${p.device}`),
      coreDatabaseUrl: coreDb.url,
      cores: cores.map((c) => c.httpUrl),
      get pushCore() {
        return cores.map((c) => c.proc);
      },
      services,
      processes,
      service(name) {
        const found = services.get(name);
        if (!found) throw new Error(`no service ${name} (${[...services.keys()].join(', ')})`);
        return found;
      },
      restartCore: (index) => cores[index]!.start(),
      async startTransport(index) {
        await transports[index]!.start();
        return transports[index]!;
      },
      project: (name) => quickstart(installation, join(work, name), name),
      close,
    };
    return cluster;
  } catch (err) {
    // Nothing of a cluster that did not start may outlive the test (Jest would hang on it).
    await close();
    throw err;
  }
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
