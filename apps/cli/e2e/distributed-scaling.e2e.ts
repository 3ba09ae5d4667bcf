import { join } from 'node:path';
import { Topics } from '@borealis/contracts';
import { PushServerClient, loadProjectSettings } from '@borealis/server-sdk';
import { expectEventually, startCli, type JsonLineProcess } from '@borealis/testing';
import { expectAllDelivered, expectDeliveredOnce, metricSum, SendLoop } from './app-server-load';
import { startCluster, type Cluster } from './push-core-cluster';
import { registrationIdOf, type Project } from './support';

jest.setTimeout(240_000);

const MESSAGES_GROUP = 'borealis.push-core.messages';

/**
 * Scaling on the real broker while pushes flow: two push-core instances share the accepted
 * messages, and of three transports one is drained (SIGTERM: GoAway to its devices) after a
 * fourth was added; the drained instance's devices reconnect to the new one. Nothing is lost or
 * shown twice.
 */
describe('distributed mode scaling out and in, on the real broker', () => {
  let cluster: Cluster | undefined;
  let project: Project;
  let loop: SendLoop | undefined;
  /** registrationId → device process. */
  const devices = new Map<string, JsonLineProcess>();
  /** Every device process started, also those of a beforeAll that failed half way. */
  const deviceProcesses: JsonLineProcess[] = [];
  const drainedDevices: JsonLineProcess[] = [];

  beforeAll(async () => {
    // Transport 3 is the one added later; the devices of transport 0 (drained) know it next.
    cluster = await startCluster({ transports: 3, spareTransports: 1, pushCores: 2, transportEnv: { DEVICE_GOAWAY_SPREAD_MS: '1000' } });
    project = await cluster.project('scaling');
    const [t0, t1, t2, t3] = cluster.transports as [string, string, string, string];
    const lists = [
      [t0, t3],
      [t0, t3],
      [t1, t2],
      [t1, t2],
      [t2, t1],
      [t2, t1],
    ];
    const started = lists.map((servers, i) => startCli(['device', ...servers.flatMap((s) => ['--server', s]), '--app', project.applicationId, '--state', join(cluster!.work, `device-${i}`)], {}, `device-${i}`));
    drainedDevices.push(started[0]!, started[1]!);
    deviceProcesses.push(...started);
    const ids = await Promise.all(started.map((d) => registrationIdOf(d)));
    ids.forEach((id, i) => devices.set(id, started[i]!));
  });

  afterAll(async () => {
    await loop?.stop();
    await Promise.all(deviceProcesses.map((d) => d.stop()));
    await cluster?.close();
  });

  const consumed = (core: string) => metricSum(core, 'borealis_bus_consumed_records_total', { topic: Topics.messageAccepted.name, group: MESSAGES_GROUP, outcome: 'ok' });
  const held = (transport: string) => metricSum(cluster!.service(transport).httpUrl, 'borealis_transport_devices');

  it('adds a transport and drains another while sends flow: devices move, both push-cores work, nothing lost or doubled', async () => {
    const c = cluster!;
    const before = await Promise.all(c.cores.map(consumed));
    const api = new PushServerClient(loadProjectSettings(project.settingsFile), { timeoutMs: 15_000 });
    const sends = new SendLoop(api, [...devices.keys()], 30);
    loop = sends;
    sends.start();
    await sends.expectAccepting(60);

    const added = await c.startTransport(3);
    await sends.expectAccepting(30);
    expect(await held(added.name)).toBe(0);

    // Drain transport 0 as Kubernetes would stop it: SIGTERM, GoAway to every device, then exit.
    await c.service('transport-0').proc.stop('SIGTERM', 30_000);
    for (const device of drainedDevices) {
      const goAway = device.lines.findIndex((l) => l['event'] === 'disconnected' && /going away/.test(String(l['reason'])));
      expect(goAway).toBeGreaterThanOrEqual(0);
      await device.waitFor((l) => l['event'] === 'welcomed' && device.lines.indexOf(l) > goAway, 30_000, 'a welcome after the GoAway');
    }
    await expectEventually(async () => expect(await held(added.name)).toBe(drainedDevices.length), { timeoutMs: 30_000, intervalMs: 250 });
    expect((await held('transport-1')) + (await held('transport-2'))).toBe(devices.size - drainedDevices.length);
    await sends.expectAccepting(60);
    await sends.stop();

    const accepted = sends.accepted;
    const audit = await expectDeliveredOnce(accepted, devices, 90_000);
    await expectAllDelivered(c.coreDatabaseUrl, [...accepted.keys()], 60_000);
    // Both instances take a share of the accepted messages, and together all of them. Messages are
    // keyed by target: six devices are six keys, which all hash to one instance's partitions in
    // about one run in 32 (it happened). Messages to 24 topics of their own add keys enough for both.
    const topicSends: string[] = [];
    for (let i = 0; i < 24; i++) topicSends.push((await api.sendMessage({ target: `scaling-${i}`, type: 'topic', ttl: '1h', notification: { title: 'spread', message: `topic ${i}` } })).id);
    let shares: number[] = [];
    await expectEventually(
      async () => {
        shares = (await Promise.all(c.cores.map(consumed))).map((n, i) => n - before[i]!);
        expect(shares[0]! + shares[1]!).toBeGreaterThanOrEqual(accepted.size + topicSends.length);
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    for (const share of shares) expect(share).toBeGreaterThan(0);
    const refused = sends.refusedByStatus();
    process.stderr.write(
      `[distributed-scaling] ${JSON.stringify({ sends: sends.outcomes.length, accepted200: accepted.size, refused, pushCoreShares: shares, movedDevices: drainedDevices.length, lost: audit.lost.length, duplicatesToApps: audit.duplicates.length })}\n`,
    );
    expect(refused).toEqual({});
  });
});
