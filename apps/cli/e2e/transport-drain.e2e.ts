import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, expectEventually, freePort, requireKafka, requireRedis, startCli, type JsonLineProcess, type TestDatabase } from '@borealis/testing';
import { randomToken } from '@borealis/util';
import { startIngress } from './ingress';
import { client, expectDelivered, http, quickstart, registrationIdOf, type Installation, type Project } from './support';

jest.setTimeout(180_000);

type Push = { id: string; title: string; message: string; data: string };

function pushesOf(device: JsonLineProcess): Push[] {
  return device.lines.filter((l) => l['event'] === 'notifications').flatMap((l) => l['pushList'] as Push[]);
}

/**
 * Two transport instances in distributed mode. Transport B also serves TLS and WebSocket. Devices
 * know both instances (the SDK's server list stands in for an L4 load balancer): draining A moves
 * them to B.
 */
describe('transport: drain across instances, TLS and WebSocket, end to end', () => {
  const work = mkdtempSync(join(tmpdir(), 'borealis-transport-'));
  const processes: JsonLineProcess[] = [];
  const databases: TestDatabase[] = [];
  const certFile = join(work, 'cert.pem');
  const keyFile = join(work, 'key.pem');
  let ingress: { url: string; close(): Promise<void> };
  let transportA: JsonLineProcess;
  let installation: Installation;
  let project: Project;
  let urls: { a: string; b: string; bTls: string; bWs: string };

  beforeAll(async () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
    const kafka = requireKafka();
    const redis = requireRedis();
    const [authDb, coreDb] = [await createTestDatabase('auth'), await createTestDatabase('core')];
    databases.push(authDb, coreDb);
    const ports = await Promise.all(Array.from({ length: 9 }, () => freePort()));
    const [authPort, gatewayPort, corePort, httpA, httpB, deviceA, deviceB, tlsB, wsB] = ports as [number, number, number, number, number, number, number, number, number];
    ingress = await startIngress({ auth: `http://127.0.0.1:${authPort}`, gateway: `http://127.0.0.1:${gatewayPort}` });
    const adminToken = randomToken(32);
    const common = {
      KAFKA_BROKERS: kafka,
      KAFKA_TOPIC_CREATION: 'admin',
      KAFKA_SESSION_TIMEOUT_MS: '4000',
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
    const suffix = randomToken(4).toLowerCase().replace(/[^a-z0-9]/g, 'x');
    const transport = { DEVICE_HOST: '127.0.0.1', DEVICE_CREDENTIAL_SECRET: randomToken(32), HEARTBEAT_INTERVAL_MS: '5000', DEVICE_GOAWAY_SPREAD_MS: '1000' };
    transportA = start('transport', { ...transport, HTTP_PORT: String(httpA), TRANSPORT_INSTANCE_ID: `ta-${suffix}`, DEVICE_PORT: String(deviceA) }, 'transport-a');
    const started = [
      start('auth', { HTTP_PORT: String(authPort), DATABASE_URL: authDb.url, BOREALIS_ADMIN_TOKEN: adminToken, SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'), BOREALIS_DEVICE_URL: `tcp://127.0.0.1:${deviceA}` }),
      start('push-core', { HTTP_PORT: String(corePort), DATABASE_URL: coreDb.url }),
      start('gateway', {
        HTTP_PORT: String(gatewayPort),
        AUTH_JWKS_URL: `http://127.0.0.1:${authPort}/auth/public/.well-known/jwks.json`,
        PUSH_CORE_URL: `http://127.0.0.1:${corePort}`,
      }),
      transportA,
      start(
        'transport',
        {
          ...transport,
          HTTP_PORT: String(httpB),
          TRANSPORT_INSTANCE_ID: `tb-${suffix}`,
          DEVICE_PORT: String(deviceB),
          DEVICE_TLS_PORT: String(tlsB),
          DEVICE_TLS_CERT_FILE: certFile,
          DEVICE_TLS_KEY_FILE: keyFile,
          DEVICE_WS_PORT: String(wsB),
        },
        'transport-b',
      ),
    ];
    await Promise.all(started.map((p) => p.waitFor((l) => l['event'] === 'ready', 60_000, 'ready')));
    for (const port of [authPort, gatewayPort, corePort, httpA, httpB]) {
      await expectEventually(async () => expect((await http(`http://127.0.0.1:${port}/readyz`)).status).toBe(200), { timeoutMs: 60_000, intervalMs: 250 });
    }
    urls = {
      a: `tcp://127.0.0.1:${deviceA}`,
      b: `tcp://127.0.0.1:${deviceB}`,
      bTls: `tls://127.0.0.1:${tlsB}`,
      bWs: `ws://127.0.0.1:${wsB}/device`,
    };
    installation = { httpUrl: ingress.url, deviceUrl: urls.a, adminEnv: { BOREALIS_ADMIN_TOKEN: adminToken, SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') } };
    project = await quickstart(installation, join(work, 'project'), 'transport-e2e');
  });

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await ingress?.close();
    await Promise.all(databases.map((d) => d.drop()));
    rmSync(work, { recursive: true, force: true });
  });

  function device(name: string, servers: string[], extra: string[] = []): JsonLineProcess {
    const args = ['device', ...servers.flatMap((s) => ['--server', s]), '--app', project.applicationId, '--state', join(work, name), ...extra];
    const proc = startCli(args, {}, name);
    processes.push(proc);
    return proc;
  }

  // The table is built before beforeAll runs: the URLs are read when the test runs.
  it.each<[string, () => string[], () => string[]]>([
    ['TLS', () => [urls.bTls], () => ['--ca', certFile]],
    ['WebSocket', () => [urls.bWs], () => []],
  ])('%s carries the same flow: register, push, delivered', async (_, servers, extra) => {
    const d = device(`device-${_.toLowerCase()}`, servers(), extra());
    const registrationId = await registrationIdOf(d);
    const { id } = await client(project).sendMessage({ target: registrationId, ttl: '1h', notification: { title: `over ${_}`, message: 'hello', data: { via: _ } } });
    await d.waitFor((l) => l['event'] === 'notifications' && pushesOf(d).some((p) => p.id === id), 30_000, `push ${id}`);
    expect(JSON.parse(pushesOf(d).find((p) => p.id === id)!.data)).toEqual({ via: _ });
    await expectDelivered(project, id);
  });

  it('drain moves devices to another instance with no lost or duplicated message to the app', async () => {
    const devices = ['drain-1', 'drain-2', 'drain-3', 'drain-4'].map((name) => device(name, [urls.a, urls.b]));
    const registrationIds = await Promise.all(devices.map((d) => registrationIdOf(d)));
    const sender = client(project);
    const sent = new Map<number, string[]>(devices.map((_, i) => [i, []]));
    const sendRound = async (round: number) => {
      await Promise.all(
        registrationIds.map(async (target, i) => {
          const { id } = await sender.sendMessage({ target, ttl: '1h', notification: { title: `round ${round}`, message: `device ${i}` } });
          sent.get(i)!.push(id);
        }),
      );
    };
    await sendRound(1);
    // Deliveries keep flowing while A drains: some land on A before GoAway, some while it drains, some after.
    const drained = transportA.stop('SIGTERM', 30_000);
    for (let round = 2; round <= 6; round++) await sendRound(round);
    await drained;
    for (let round = 7; round <= 8; round++) await sendRound(round);

    for (const [i, d] of devices.entries()) {
      const expected = sent.get(i)!;
      await expectEventually(() => expect(new Set(pushesOf(d).map((p) => p.id))).toEqual(new Set(expected)), { timeoutMs: 60_000, intervalMs: 250 });
      // Each message reached the app exactly once.
      expect(pushesOf(d).map((p) => p.id).sort()).toEqual([...expected].sort());
      expect(d.lines.some((l) => l['event'] === 'disconnected' && /going away/.test(String(l['reason'])))).toBe(true);
    }
    const last = sent.get(0)!;
    await expectDelivered(project, last[last.length - 1]!);
    await expectDelivered(project, last[2]!);
  });
});
