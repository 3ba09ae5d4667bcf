import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, expectEventually, freePort, requireKafka, requireRedis, startCli, type JsonLineProcess, type TestDatabase } from '@borealis/testing';
import { randomToken } from '@borealis/util';
import { startIngress } from './ingress';
import { client, http, quickstart, registrationIdOf, startDevice, type Installation, type Project } from './support';

jest.setTimeout(240_000);

/** Every push id a device printed. */
function received(device: JsonLineProcess): string[] {
  return device.lines.filter((l) => l['event'] === 'notifications').flatMap((l) => (l['pushList'] as { id: string }[]).map((p) => p.id));
}

/**
 * The gateway's rules against the real services in distributed mode (auth, gateway, push-core and
 * transport as processes on Kafka, PostgreSQL and Redis): group delivery reaches exactly its
 * audience, collapse keys replace, an idempotent retry sends once, and a project's quota admits
 * exactly its burst.
 */
describe('gateway, end to end: groups, collapse, idempotency, quota', () => {
  const QUOTA_BURST = 12;
  const work = mkdtempSync(join(tmpdir(), 'borealis-gateway-'));
  const processes: JsonLineProcess[] = [];
  const databases: TestDatabase[] = [];
  let ingress: { url: string; close(): Promise<void> };
  let installation: Installation;
  let adminToken: string;
  let a: Project;
  let b: Project;
  let secondAppOfA: string;
  const devices: Record<'a1' | 'a2' | 'aOther' | 'b1', { proc: JsonLineProcess; registrationId: string; stateDir: string }> = {} as never;

  const api = (project: Project, path: string) => `${installation.httpUrl}/push/public/api/v1/projects/${project.projectId}${path}`;
  async function post(project: Project, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const token = await client(project).getAccessToken();
    return http(api(project, path), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }
  const push = (type: string, target: string, title: string, extra: Record<string, unknown> = {}) => ({ type, target, ttl: '1h', notification: { title, message: 'm' }, ...extra });

  async function device(name: keyof typeof devices, applicationId: string) {
    const stateDir = join(work, name);
    const proc = startDevice(installation.deviceUrl, applicationId, stateDir);
    processes.push(proc);
    devices[name] = { proc, registrationId: await registrationIdOf(proc), stateDir };
  }

  beforeAll(async () => {
    const kafka = requireKafka();
    const redis = requireRedis();
    const [authDb, coreDb] = [await createTestDatabase('gwauth'), await createTestDatabase('gwcore')];
    databases.push(authDb, coreDb);
    const [authPort, gatewayPort, corePort, transportPort, devicePort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    ingress = await startIngress({ auth: `http://127.0.0.1:${authPort}`, gateway: `http://127.0.0.1:${gatewayPort}` });
    adminToken = randomToken(32);
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
    const start = (service: string, env: Record<string, string>) => {
      const proc = startCli(['serve', '--service', service], { ...common, ...env }, service);
      processes.push(proc);
      return proc;
    };
    const started = [
      start('auth', { HTTP_PORT: String(authPort), DATABASE_URL: authDb.url, BOREALIS_ADMIN_TOKEN: adminToken, SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'), BOREALIS_DEVICE_URL: `tcp://127.0.0.1:${devicePort}` }),
      start('push-core', { HTTP_PORT: String(corePort), DATABASE_URL: coreDb.url }),
      start('gateway', {
        HTTP_PORT: String(gatewayPort),
        AUTH_JWKS_URL: `http://127.0.0.1:${authPort}/auth/public/.well-known/jwks.json`,
        PUSH_CORE_URL: `http://127.0.0.1:${corePort}`,
        // A quota that does not refill during the test: exactly the burst is admitted.
        RATE_LIMIT_PER_SECOND: '0.0001',
        RATE_LIMIT_BURST: String(QUOTA_BURST),
      }),
      start('transport', {
        HTTP_PORT: String(transportPort),
        TRANSPORT_INSTANCE_ID: `t-${randomToken(4).toLowerCase().replace(/[^a-z0-9]/g, 'x')}`,
        DEVICE_HOST: '127.0.0.1',
        DEVICE_PORT: String(devicePort),
        DEVICE_CREDENTIAL_SECRET: randomToken(32),
        HEARTBEAT_INTERVAL_MS: '5000',
      }),
    ];
    await Promise.all(started.map((p) => p.waitFor((l) => l['event'] === 'ready', 60_000, 'ready')));
    for (const port of [authPort, gatewayPort, corePort, transportPort]) {
      await expectEventually(async () => expect((await http(`http://127.0.0.1:${port}/readyz`)).status).toBe(200), { timeoutMs: 60_000, intervalMs: 250 });
    }
    installation = { httpUrl: ingress.url, deviceUrl: `tcp://127.0.0.1:${devicePort}`, adminEnv: { BOREALIS_ADMIN_TOKEN: adminToken, SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') } };
    a = await quickstart(installation, join(work, 'project-a'), 'project-a');
    b = await quickstart(installation, join(work, 'project-b'), 'project-b');
    const created = await http(`${installation.httpUrl}/auth/admin/v1/projects/${a.projectId}/applications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'second app' }),
    });
    expect(created.status).toBeLessThan(300);
    secondAppOfA = String(created.body['id']);
    await device('a1', a.applicationId);
    await device('a2', a.applicationId);
    await device('aOther', secondAppOfA);
    await device('b1', b.applicationId);
  });

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await ingress?.close();
    await Promise.all(databases.map((d) => d.drop()));
    rmSync(work, { recursive: true, force: true });
  });

  it('type application reaches every registration of that app in the project and no one else', async () => {
    const sent = await post(a, '/messages', push('application', a.applicationId, 'to app 1'));
    expect(sent.status).toBe(200);
    const id = String(sent.body['id']);
    await expectEventually(async () => {
      expect(received(devices.a1.proc)).toContain(id);
      expect(received(devices.a2.proc)).toContain(id);
    }, { timeoutMs: 30_000 });
    // The application of another project is not addressable from this one.
    expect((await post(a, '/messages', push('application', b.applicationId, 'foreign app'))).status).toBe(200);
    const marker = await post(a, '/messages', push('device', devices.aOther.registrationId, 'marker'));
    await expectEventually(async () => expect(received(devices.aOther.proc)).toContain(String(marker.body['id'])), { timeoutMs: 30_000 });
    expect(received(devices.aOther.proc)).not.toContain(id);
    expect(received(devices.b1.proc)).not.toContain(id);
    await expectEventually(async () => {
      const status = await client(a).getMessageStatus(id);
      expect(status.counts['delivered']).toBe(2);
    }, { timeoutMs: 20_000 });
  });

  it('type topic reaches every subscriber in the project, not another project subscribed to the same name', async () => {
    const topic = `news-${randomToken(4).replace(/[^A-Za-z0-9]/g, 'x')}`;
    expect((await post(a, `/registrations/${devices.a1.registrationId}/topics/${topic}`)).status).toBe(202);
    expect((await post(a, `/registrations/${devices.aOther.registrationId}/topics/${topic}`)).status).toBe(202);
    expect((await post(b, `/registrations/${devices.b1.registrationId}/topics/${topic}`)).status).toBe(202);
    // A project cannot subscribe another project's registration.
    expect((await post(a, `/registrations/${devices.b1.registrationId}/topics/${topic}-a`)).status).toBe(202);

    // Subscriptions apply asynchronously: send until the subscribers see one.
    let id = '';
    await expectEventually(async () => {
      const sent = await post(a, '/messages', push('topic', topic, 'topic news'));
      expect(sent.status).toBe(200);
      id = String(sent.body['id']);
      await expectEventually(async () => {
        expect(received(devices.a1.proc)).toContain(id);
        expect(received(devices.aOther.proc)).toContain(id);
      }, { timeoutMs: 5_000 });
    }, { timeoutMs: 30_000, intervalMs: 500 });
    const toB = await post(b, '/messages', push('topic', `${topic}-a`, 'nobody in b subscribed to this'));
    const marker = await post(b, '/messages', push('device', devices.b1.registrationId, 'marker b'));
    await expectEventually(async () => expect(received(devices.b1.proc)).toContain(String(marker.body['id'])), { timeoutMs: 30_000 });
    expect(received(devices.b1.proc)).not.toContain(id);
    expect(received(devices.b1.proc)).not.toContain(String(toB.body['id']));
    expect(received(devices.a2.proc)).not.toContain(id);
  });

  it('a newer pending message with the same collapse_key replaces the older one', async () => {
    await devices.aOther.proc.stop();
    const first = await post(a, '/messages', push('device', devices.aOther.registrationId, 'score 1-0', { collapse_key: 'score' }));
    const second = await post(a, '/messages', push('device', devices.aOther.registrationId, 'score 2-0', { collapse_key: 'score' }));
    expect([first.status, second.status]).toEqual([200, 200]);
    const again = startDevice(installation.deviceUrl, secondAppOfA, devices.aOther.stateDir);
    processes.push(again);
    await expectEventually(async () => expect(received(again)).toContain(String(second.body['id'])), { timeoutMs: 30_000 });
    expect(received(again)).not.toContain(String(first.body['id']));
  });

  it('an Idempotency-Key retry returns the same id and the message is accepted once', async () => {
    const key = `retry-${randomToken(8)}`;
    const body = push('device', devices.a1.registrationId, 'once');
    const first = await post(a, '/messages', body, { 'idempotency-key': key });
    const retry = await post(a, '/messages', body, { 'idempotency-key': key });
    expect(first.status).toBe(200);
    expect(retry.status).toBe(200);
    expect(retry.body['id']).toBe(first.body['id']);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    const reused = await post(a, '/messages', { ...body, ttl: '2h' }, { 'idempotency-key': key });
    expect(reused.status).toBe(422);
    expect(reused.body['code']).toBe('conflict');
    await expectEventually(async () => expect(received(devices.a1.proc)).toContain(String(first.body['id'])), { timeoutMs: 30_000 });
  });

  it('the project quota admits exactly its burst; the rest get 429 with Retry-After; stats count the accepted', async () => {
    const c = await quickstart(installation, join(work, 'project-c'), 'project-c');
    const token = await client(c).getAccessToken();
    const results = await Promise.all(
      Array.from({ length: QUOTA_BURST + 8 }, (_, i) =>
        http(api(c, '/messages'), {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(push('device', 'nobody', `q${i}`)),
        }),
      ),
    );
    const ok = results.filter((r) => r.status === 200);
    const limited = results.filter((r) => r.status === 429);
    expect(ok).toHaveLength(QUOTA_BURST);
    expect(limited).toHaveLength(8);
    for (const r of limited) {
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(r.headers.get('ratelimit-remaining')).toBe('0');
      expect(r.body['code']).toBe('rate_limited');
    }
    await expectEventually(async () => {
      const stats = await http(api(c, '/stats'), { headers: { authorization: `Bearer ${token}` } });
      expect(stats.status).toBe(200);
      const days = stats.body['days'] as { accepted: number }[];
      expect(days.reduce((n, d) => n + d.accepted, 0)).toBe(QUOTA_BURST);
    }, { timeoutMs: 30_000, intervalMs: 500 });
  });
});
