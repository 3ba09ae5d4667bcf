import { join } from 'node:path';
import { Client } from 'pg';
import { Topics } from '@borealis/contracts';
import { expectEventually, type JsonLineProcess } from '@borealis/testing';
import { randomToken } from '@borealis/util';
import { expectReceived, pushIds, startCluster, type Cluster } from './push-core-cluster';
import { client, registrationIdOf, startDevice, type Project } from './support';

jest.setTimeout(120_000);

const MESSAGES_GROUP = 'borealis.push-core.messages';

/** What one push-core process's /metrics says about its share of the accepted-messages topic. */
async function messagesShare(coreUrl: string): Promise<{ consumed: number; partitions: Set<string> }> {
  const text = await (await fetch(`${coreUrl}/metrics`)).text();
  let consumed = 0;
  const partitions = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (labels['topic'] !== Topics.messageAccepted.name || labels['group'] !== MESSAGES_GROUP) continue;
    if (m[1] === 'borealis_bus_consumed_records_total' && labels['outcome'] === 'ok') consumed += Number(m[3]);
    // Set after each batch the process handled, per partition: the partitions it has consumed.
    if (m[1] === 'borealis_bus_consumer_lag_records') partitions.add(labels['partition']!);
  }
  return { consumed, partitions };
}

/**
 * Two push-core processes in one consumer group (distributed mode, two transports): both take a
 * share of the accepted messages, every message reaches its device once, and after a kill -9 of
 * one of them the other takes over its partitions.
 */
describe('two push-core instances, end to end', () => {
  let cluster: Cluster;
  let project: Project;
  const devices: JsonLineProcess[] = [];
  let registrations: string[];
  let db: Client;

  beforeAll(async () => {
    cluster = await startCluster({ transports: 2, pushCores: 2 });
    project = await cluster.project('instances');
    for (let i = 0; i < 4; i++) devices.push(startDevice(cluster.transports[i % 2]!, project.applicationId, join(cluster.work, `device-${i}`)));
    registrations = await Promise.all(devices.map((d) => registrationIdOf(d)));
    db = new Client({ connectionString: cluster.coreDatabaseUrl });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await Promise.all(devices.map((d) => d.stop()));
    await cluster?.close();
  });

  /**
   * Per device `perDevice` messages, and as many to registrations that do not exist (they fail):
   * their many distinct keys spread the batch over every partition of the topic.
   */
  let unknownTargets: string[] | undefined;

  async function sendBatch(label: string, perDevice: number): Promise<{ real: string[][]; unknown: string[] }> {
    const api = client(project);
    const send = async (target: string, title: string) => (await api.sendMessage({ target, type: 'device', ttl: '1h', notification: { title, message: 'm' } })).id;
    const real = await Promise.all(registrations.map(async (target, d) => {
      const ids: string[] = [];
      // In order per device, so that each device's messages are also in acceptance order.
      for (let n = 0; n < perDevice; n++) ids.push(await send(target, `${label} ${d}.${n}`));
      return ids;
    }));
    // The same unknown targets in every batch: a message's key is its target, so each batch reaches
    // the same partitions, and the partitions a killed instance had consumed get records again.
    unknownTargets ??= Array.from({ length: perDevice * registrations.length }, () => `reg_${randomToken(16)}`);
    const unknown = await Promise.all(unknownTargets.map((target, n) => send(target, `${label} unknown ${n}`)));
    return { real, unknown };
  }

  async function expectStatuses(real: readonly string[], unknown: readonly string[]): Promise<void> {
    await expectEventually(
      async () => {
        const deliveries = await db.query<{ state: string; n: number }>('SELECT state, count(*)::int AS n FROM deliveries WHERE message_id = ANY($1) GROUP BY state', [real]);
        expect(deliveries.rows).toEqual([{ state: 'delivered', n: real.length }]);
        const failed = await db.query<{ outcome: string; n: number }>('SELECT outcome, count(*)::int AS n FROM messages WHERE id = ANY($1) GROUP BY outcome', [unknown]);
        expect(failed.rows).toEqual([{ outcome: 'failed', n: unknown.length }]);
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
  }

  function expectOnce(): void {
    for (const d of devices) {
      const ids = pushIds(d);
      expect(ids.length).toBe(new Set(ids).size);
    }
  }

  let before: { consumed: number; partitions: Set<string> }[];
  let first: { real: string[][]; unknown: string[] };

  it('shares the accepted messages between both instances; each message reaches its device once', async () => {
    first = await sendBatch('first', 10);
    for (const [i, d] of devices.entries()) await expectReceived(d, first.real[i]!);
    await expectStatuses(first.real.flat(), first.unknown);
    before = await Promise.all(cluster.cores.map((core) => messagesShare(core)));
    for (const share of before) expect(share.consumed).toBeGreaterThan(0);
    expect(before[0]!.consumed + before[1]!.consumed).toBeGreaterThanOrEqual(first.real.flat().length + first.unknown.length);
    expectOnce();
  });

  it('after a kill -9 of one instance, the other takes over its partitions and everything still arrives', async () => {
    expect(before[1]!.partitions.size).toBeGreaterThan(0);
    cluster.pushCore[1]!.child.kill('SIGKILL');
    await cluster.pushCore[1]!.exited;
    // Sent at once: these wait in Kafka until the group has noticed the death and rebalanced.
    const second = await sendBatch('second', 10);
    for (const [i, d] of devices.entries()) await expectReceived(d, second.real[i]!, 60_000);
    await expectStatuses(second.real.flat(), second.unknown);
    // The consumed count and the partitions are reported once a round's offsets are committed,
    // which follows its effect (the statuses above) by a moment.
    await expectEventually(async () => {
      const after = await messagesShare(cluster.cores[0]!);
      expect([...after.partitions]).toEqual(expect.arrayContaining([...before[1]!.partitions]));
      expect(after.consumed - before[0]!.consumed).toBeGreaterThanOrEqual(second.real.flat().length + second.unknown.length);
    }, { timeoutMs: 10_000, intervalMs: 200 });
    expectOnce();
    for (const [i, d] of devices.entries()) expect(pushIds(d)).toEqual(expect.arrayContaining([...first.real[i]!, ...second.real[i]!]));
  });
});
