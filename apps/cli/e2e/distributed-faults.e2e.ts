import { join } from 'node:path';
import { PushServerClient, loadProjectSettings } from '@borealis/server-sdk';
import { expectEventually, REPO_ROOT, requireKafka, startCli, startOwnKafkaBroker, type JsonLineProcess, type OwnKafkaBroker } from '@borealis/testing';
import { auditDelivery, coreRowsOf, expectAllDelivered, expectDeliveredOnce, metricSum, saveOutputs, SendLoop, type DeliveryAudit } from './app-server-load';
import { startCluster, type Cluster } from './push-core-cluster';
import { registrationIdOf, type Project } from './support';

jest.setTimeout(300_000);

const DEVICES = 4;
const SENDS_PER_SECOND = 30;

/**
 * Faults on the real stack (distributed mode on a Kafka broker of this test's own): while an app
 * server sends a steady stream of pushes to devices on two transports, each service in turn is
 * killed (kill -9) and started again, then the broker itself. Every push answered 200 must reach
 * its device's app exactly once and end `delivered`; while the broker is down the gateway refuses
 * (503) rather than accept what it cannot make durable; every service recovers by itself.
 */
describe('distributed mode under faults, on a real Kafka broker', () => {
  let own: OwnKafkaBroker | undefined;
  let cluster: Cluster | undefined;
  let project: Project;
  let loop: SendLoop | undefined;
  /** registrationId → device process. */
  const devices = new Map<string, JsonLineProcess>();
  /** Every device process started, also those of a beforeAll that failed half way. */
  const deviceProcesses: JsonLineProcess[] = [];
  let kills = 0;

  beforeAll(async () => {
    requireKafka();
    own = await startOwnKafkaBroker();
    cluster = await startCluster({
      transports: 2,
      brokers: own.brokers,
      // Fewer partitions than production's 12: quicker rebalances on a 2-core machine.
      env: { KAFKA_TOPIC_PARTITIONS: '4' },
      transportEnv: { DEVICE_GOAWAY_SPREAD_MS: '1000' },
    });
    project = await cluster.project('faults');
    // Each device knows both transports (the SDK's server list stands in for the L4 load
    // balancer): when its transport dies it reconnects to the other one.
    const [a, b] = cluster.transports as [string, string];
    const started = Array.from({ length: DEVICES }, (_, i) => {
      const servers = i % 2 === 0 ? [a, b] : [b, a];
      return startCli(['device', ...servers.flatMap((s) => ['--server', s]), '--app', project.applicationId, '--state', join(cluster!.work, `device-${i}`)], {}, `device-${i}`);
    });
    deviceProcesses.push(...started);
    const ids = await Promise.all(started.map((d) => registrationIdOf(d)));
    ids.forEach((id, i) => devices.set(id, started[i]!));
  });

  afterAll(async () => {
    await loop?.stop();
    await Promise.all(deviceProcesses.map((d) => d.stop()));
    await cluster?.close();
    await own?.close();
  });

  /** Every service of the cluster answers /readyz 200. */
  async function allReady(timeoutMs: number): Promise<void> {
    await Promise.all([...cluster!.services.values()].map((s) => s.ready(timeoutMs)));
  }

  /** Every device is held by a transport again (it reconnected after its transport died). */
  async function allDevicesHeld(): Promise<void> {
    const transports = [...cluster!.services.values()].filter((s) => s.name.startsWith('transport-'));
    await expectEventually(async () => expect((await Promise.all(transports.map((t) => metricSum(t.httpUrl, 'borealis_transport_devices')))).reduce((x, y) => x + y, 0)).toBe(DEVICES), {
      timeoutMs: 30_000,
      intervalMs: 250,
      message: 'devices not all connected',
    });
  }

  it('delivers every accepted push exactly once through kill -9 of each service and a broker restart', async () => {
    const c = cluster!;
    const api = new PushServerClient(loadProjectSettings(project.settingsFile), { timeoutMs: 15_000 });
    // A token before the faults: the app server caches it, so auth's death does not stop sends.
    await api.getAccessToken();
    const sends = new SendLoop(api, [...devices.keys()], SENDS_PER_SECOND);
    loop = sends;
    sends.start();
    await sends.expectAccepting(30);

    const marks: { event: string; atMs: number }[] = [];
    const mark = (event: string) => marks.push({ event, atMs: Date.now() });
    for (const name of ['gateway', 'push-core-0', 'transport-0', 'auth']) {
      const service = c.service(name);
      mark(`kill ${name}`);
      await service.kill();
      kills++;
      // Sends go on while it is dead (the gateway's death refuses them, the others' do not).
      await sends.expectAttempts(20);
      mark(`restart ${name}`);
      await service.start();
      await sends.expectAccepting(20);
      await allDevicesHeld();
    }

    // The broker: kill -9, a few seconds down, then the same broker again (same ports and data).
    await sends.expectAccepting(20);
    const beforeDown = sends.outcomes.length;
    const acceptedBeforeDown = sends.ok;
    mark('kill broker');
    await own!.broker.kill();
    kills++;
    await expectEventually(() => expect(sends.refusedByStatus(beforeDown)['503'] ?? 0).toBeGreaterThanOrEqual(10), { timeoutMs: 60_000, intervalMs: 100, message: 'no 503 while the broker is down' });
    const down = sends.outcomes.slice(beforeDown);
    // A refusal the app server can act on: problem+json "unavailable", retry later.
    expect(sends.outcomes.filter((o) => o.status === 503).every((o) => o.code === 'unavailable')).toBe(true);
    const acceptedWhileDown = down.filter((o) => o.status === 200 && o.atMs > down.find((d) => d.status === 503)!.atMs).length;
    mark('restart broker');
    await own!.restart();
    // Every service comes back by itself: ready again, and sends are accepted again.
    await allReady(90_000);
    await sends.expectAccepting(30, 90_000);
    await allDevicesHeld();
    await sends.stop();

    const accepted = sends.accepted;
    // On a failure: which fault each push in question was sent around, push-core's rows for it,
    // and every process's output kept under tmp/ for the post-mortem.
    const explain = async (err: unknown, ids: string[]) => {
      const sentAt = new Map(sends.outcomes.filter((o) => o.id).map((o) => [o.id!, o.atMs]));
      const around = ids.map((id) => `${id}: sent ${sentAt.get(id)} to ${accepted.get(id)}, after ${[...marks].reverse().find((m) => m.atMs <= (sentAt.get(id) ?? 0))?.event ?? 'start'}`);
      const rows = await coreRowsOf(c.coreDatabaseUrl, ids).catch((e: unknown) => String(e));
      const dir = join(REPO_ROOT, 'tmp', `distributed-faults-${Date.now()}`);
      saveOutputs(dir, [...c.processes, ...deviceProcesses]);
      return new Error(`${String(err)}\n${around.join('\n')}\n${marks.map((m) => `${m.atMs} ${m.event}`).join('\n')}\npush-core rows: ${JSON.stringify(rows)}\noutputs in ${dir}`, { cause: err });
    };
    let audit: DeliveryAudit;
    try {
      audit = await expectDeliveredOnce(accepted, devices, 120_000);
    } catch (err) {
      throw await explain(err, auditDelivery(accepted, devices).lost.slice(0, 20));
    }
    try {
      await expectAllDelivered(c.coreDatabaseUrl, [...accepted.keys()], 60_000);
    } catch (err) {
      throw await explain(err, [...String(err).matchAll(/"message_id": "([^"]+)"/g)].map(([, id]) => id!));
    }
    // The status API tells the app server the same, for the pushes either side of the broker's outage.
    const around = [...accepted.keys()];
    for (const id of [around[acceptedBeforeDown - 1]!, around[acceptedBeforeDown]!]) {
      await expectEventually(async () => expect(await api.getMessageStatus(id)).toMatchObject({ id, state: 'delivered' }), { timeoutMs: 20_000, intervalMs: 500 });
    }

    const refused = sends.refusedByStatus();
    const summary = {
      sends: sends.outcomes.length,
      accepted200: accepted.size,
      refused503: refused['503'] ?? 0,
      otherRefusals: Object.fromEntries(Object.entries(refused).filter(([status]) => status !== '503')),
      acceptedWhileBrokerDown: acceptedWhileDown,
      kills,
      lost: audit.lost.length,
      duplicatesToApps: audit.duplicates.length,
      shownWithoutA200: audit.unacknowledgedShown,
    };
    process.stderr.write(`[distributed-faults] ${JSON.stringify(summary)}\n`);
    expect(summary).toMatchObject({ lost: 0, duplicatesToApps: 0 });
  });
});
