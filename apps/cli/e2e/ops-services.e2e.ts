import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { MetricNames } from '@borealis/platform';
import { CLI, createTestDatabase, expectEventually, freePort, JsonLineProcess, REPO_ROOT, requireKafka, requireRedis, startCli, type TestDatabase } from '@borealis/testing';
import { randomToken } from '@borealis/util';
import { SERVICES, type Service } from './ops-support';

jest.setTimeout(120_000);

/**
 * Each service as its own OS process, configured only by environment variables, on the
 * real Kafka test broker, the real PostgreSQL and Redis: liveness, readiness before and after
 * its dependencies, metrics, JSON logs, draining on SIGTERM; and start-up refusal of bad
 * configuration with the variable named.
 */

/** A TCP forwarder to Redis that accepts nothing until opened: Redis "comes up" when the test says. */
async function redisGate(target: string): Promise<{ url: string; open(): Promise<void>; close(): Promise<void> }> {
  const { hostname, port: targetPort } = new URL(target);
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    open: () =>
      new Promise((resolve, reject) => {
        server = createServer((socket) => {
          const upstream = connect(Number(targetPort || 6379), hostname);
          for (const s of [socket, upstream]) {
            sockets.add(s);
            s.on('error', () => undefined).on('close', () => sockets.delete(s));
          }
          socket.pipe(upstream).pipe(socket);
          socket.on('close', () => upstream.destroy());
          upstream.on('close', () => socket.destroy());
        });
        server.once('error', reject).listen(port, '127.0.0.1', () => resolve());
      }),
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        if (server) server.close(() => resolve());
        else resolve();
      }),
  };
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string; json: () => Record<string, unknown> }> {
  const response = await fetch(url, { headers });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

interface Running {
  service: Service;
  proc: JsonLineProcess;
  http: string;
}

describe('each service as its own process', () => {
  const databases: TestDatabase[] = [];
  const running: Running[] = [];
  let gate: Awaited<ReturnType<typeof redisGate>>;

  beforeAll(async () => {
    const kafka = requireKafka();
    gate = await redisGate(requireRedis());
    const [authDb, coreDb] = [await createTestDatabase('ops_auth'), await createTestDatabase('ops_core')];
    databases.push(authDb, coreDb);
    const [authPort, gatewayPort, corePort, transportPort, devicePort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    const common = {
      KAFKA_BROKERS: kafka,
      KAFKA_TOPIC_CREATION: 'admin',
      KAFKA_SESSION_TIMEOUT_MS: '4000',
      KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
      KAFKA_MAX_WAIT_MS: '50',
      REDIS_URL: gate.url,
      HTTP_HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      SHUTDOWN_DELAY_MS: '5000',
      BOREALIS_PUBLIC_URL: `http://127.0.0.1:${gatewayPort}`,
    };
    const env: Record<Service, Record<string, string>> = {
      auth: { HTTP_PORT: String(authPort), DATABASE_URL: authDb.url, BOREALIS_ADMIN_TOKEN: randomToken(32), SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'), BOREALIS_DEVICE_URL: `tcp://127.0.0.1:${devicePort}` },
      'push-core': { HTTP_PORT: String(corePort), DATABASE_URL: coreDb.url },
      gateway: { HTTP_PORT: String(gatewayPort), AUTH_JWKS_URL: `http://127.0.0.1:${authPort}/auth/public/.well-known/jwks.json`, PUSH_CORE_URL: `http://127.0.0.1:${corePort}` },
      transport: {
        HTTP_PORT: String(transportPort),
        TRANSPORT_INSTANCE_ID: `ops-${randomToken(4).toLowerCase().replace(/[^a-z0-9]/g, 'x')}`,
        DEVICE_HOST: '127.0.0.1',
        DEVICE_PORT: String(devicePort),
        DEVICE_CREDENTIAL_SECRET: randomToken(32),
      },
    };
    for (const service of SERVICES) running.push({ service, proc: startCli(['serve', '--service', service], { ...common, ...env[service] }, service), http: '' });
    await Promise.all(
      running.map(async (r) => {
        const ready = await r.proc.waitFor((l) => l['event'] === 'ready', 60_000, 'ready');
        r.http = String(ready['http']);
      }),
    );
  });

  afterAll(async () => {
    await Promise.all(running.map((r) => r.proc.stop('SIGKILL')));
    await gate?.close();
    await Promise.all(databases.map((d) => d.drop()));
  });

  it('is alive but not ready while Redis is unreachable, and ready once it is', async () => {
    for (const { service, http } of running) {
      expect({ service, status: (await get(`${http}/healthz`)).status }).toEqual({ service, status: 200 });
      const readyz = await get(`${http}/readyz`);
      expect({ service, status: readyz.status, body: readyz.json() }).toEqual({ service, status: 503, body: { ready: false, checks: expect.objectContaining({ redis: false, draining: true }) } });
    }
    await gate.open();
    for (const { service, http } of running) {
      await expectEventually(
        async () => {
          const readyz = await get(`${http}/readyz`);
          expect({ service, status: readyz.status, body: readyz.json() }).toEqual({ service, status: 200, body: expect.objectContaining({ ready: true }) });
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
    }
    const withDatabase = running.filter((r) => r.service === 'auth' || r.service === 'push-core');
    for (const { http } of withDatabase) expect(Object.keys((await get(`${http}/readyz`)).json()['checks'] as object).some((k) => k.startsWith('database:'))).toBe(true);
  });

  it('serves Prometheus metrics with its service label and echoes request ids', async () => {
    for (const { service, http } of running) {
      const probe = await get(`${http}/healthz`, { 'x-request-id': `ops-${service}` });
      expect(probe.headers.get('x-request-id')).toBe(`ops-${service}`);
      expect(probe.headers.get('x-request-id')).not.toBeNull();
      const metrics = await get(`${http}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('content-type')).toContain('text/plain');
      expect(metrics.text).toContain(`${MetricNames.ready}{service="${service}"} 1`);
      expect(metrics.text).toMatch(new RegExp(`${MetricNames.httpRequests}\\{method="GET",route="/readyz",status="200",service="${service}"\\} \\d+`));
      expect(metrics.text).toContain('process_cpu_seconds_total');
      // Generated ids for requests that bring none.
      expect((await get(`${http}/healthz`)).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('logs JSON lines only, with level and service', () => {
    for (const { service, proc } of running) {
      expect({ service, nonJson: proc.text.filter((t) => t.startsWith('stdout:')) }).toEqual({ service, nonJson: [] });
      const logs = proc.lines.filter((l) => 'level' in l);
      expect(logs.length).toBeGreaterThan(0);
      expect(logs.every((l) => l['service'] === service && typeof l['time'] === 'string')).toBe(true);
    }
  });

  it('on SIGTERM reports not ready at once, keeps serving while draining, then stops cleanly', async () => {
    const before = new Map(running.map((r) => [r.service, r.proc.lines.length]));
    for (const { proc } of running) proc.child.kill('SIGTERM');
    for (const { service, http } of running) {
      await expectEventually(
        async () => {
          const readyz = await get(`${http}/readyz`);
          expect({ service, status: readyz.status, draining: (readyz.json()['checks'] as Record<string, boolean>)['draining'] }).toEqual({ service, status: 503, draining: false });
        },
        { timeoutMs: 4_000, intervalMs: 100 },
      );
      expect((await get(`${http}/healthz`)).status).toBe(200);
    }
    for (const { service, proc } of running) {
      await proc.waitFor((l) => l['msg'] === 'stopped', 30_000, `${service} stopped`);
      await proc.exited;
      const shutdown = proc.lines.slice(before.get(service));
      expect({ service, errors: shutdown.filter((l) => l['level'] === 'error' || l['level'] === 'fatal').map((l) => l['msg']) }).toEqual({ service, errors: [] });
    }
  });
});

describe('bad configuration', () => {
  /** Runs a service with exactly this environment (nothing inherited) and returns its exit code and stderr. */
  async function attempt(service: Service, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(process.execPath, [CLI, 'serve', '--service', service], { cwd: REPO_ROOT, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const proc = new JsonLineProcess(child, service);
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await proc.exited;
    clearTimeout(timer);
    return { code, stderr: proc.text.filter((t) => t.startsWith('stderr:')).join('\n') };
  }

  const valid: Record<Service, Record<string, string>> = {
    auth: {
      KAFKA_BROKERS: '127.0.0.1:1',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none',
      REDIS_URL: 'redis://127.0.0.1:1',
      BOREALIS_PUBLIC_URL: 'http://127.0.0.1:1',
      BOREALIS_DEVICE_URL: 'tcp://127.0.0.1:1',
      BOREALIS_ADMIN_TOKEN: 'a'.repeat(32),
      SIGNING_KEY_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
    },
    gateway: { KAFKA_BROKERS: '127.0.0.1:1', REDIS_URL: 'redis://127.0.0.1:1', BOREALIS_PUBLIC_URL: 'http://127.0.0.1:1', AUTH_JWKS_URL: 'http://127.0.0.1:1/jwks', PUSH_CORE_URL: 'http://127.0.0.1:1' },
    'push-core': { KAFKA_BROKERS: '127.0.0.1:1', DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', REDIS_URL: 'redis://127.0.0.1:1' },
    transport: { KAFKA_BROKERS: '127.0.0.1:1', REDIS_URL: 'redis://127.0.0.1:1', TRANSPORT_INSTANCE_ID: 'transport-0', DEVICE_CREDENTIAL_SECRET: 'd'.repeat(32) },
  };
  const without = (env: Record<string, string>, name: string) => Object.fromEntries(Object.entries(env).filter(([k]) => k !== name));

  const cases: [Service, string, Record<string, string>][] = [
    ['auth', 'BOREALIS_ADMIN_TOKEN', without(valid.auth, 'BOREALIS_ADMIN_TOKEN')],
    ['auth', 'SIGNING_KEY_ENCRYPTION_KEY', without(valid.auth, 'SIGNING_KEY_ENCRYPTION_KEY')],
    ['auth', 'SIGNING_KEY_ENCRYPTION_KEY_FILE', { ...without(valid.auth, 'SIGNING_KEY_ENCRYPTION_KEY'), SIGNING_KEY_ENCRYPTION_KEY_FILE: '/nonexistent/key' }],
    ['auth', 'BOREALIS_DEVICE_URL', { ...valid.auth, BOREALIS_DEVICE_URL: 'http://devices' }],
    ['gateway', 'AUTH_JWKS_URL', without(valid.gateway, 'AUTH_JWKS_URL')],
    ['gateway', 'HTTP_PORT', { ...valid.gateway, HTTP_PORT: 'eighty' }],
    ['push-core', 'DATABASE_URL', without(valid['push-core'], 'DATABASE_URL')],
    ['push-core', 'KAFKA_TOPIC_CREATION', { ...valid['push-core'], KAFKA_TOPIC_CREATION: 'sometimes' }],
    ['transport', 'TRANSPORT_INSTANCE_ID', without(valid.transport, 'TRANSPORT_INSTANCE_ID')],
    ['transport', 'DEVICE_CREDENTIAL_SECRET', { ...valid.transport, DEVICE_CREDENTIAL_SECRET: 'short' }],
  ];

  it('stops every service at start with exit code 2 and a message naming the variable', async () => {
    const results = await Promise.all(cases.map(async ([service, variable, env]) => ({ service, variable, ...(await attempt(service, env)) })));
    for (const { service, variable, code, stderr } of results) {
      expect({ service, variable, code, named: stderr.includes(`${variable}:`) && stderr.includes(`borealis ${service}: invalid configuration`) }).toEqual({ service, variable, code: 2, named: true });
    }
    // A secret's value is never echoed.
    expect(results.find((r) => r.variable === 'DEVICE_CREDENTIAL_SECRET')!.stderr).not.toContain('short');
  });
});
