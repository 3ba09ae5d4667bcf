import { DeviceEventV1, type TopicDef } from '@borealis/contracts';
import { expectEventually, requireKafka } from '@borealis/testing';
import { deferred, randomToken } from '@borealis/util';
import { KafkaMessageBus } from './kafka-bus';
import type { BusMessage } from './message-bus';

jest.setTimeout(90_000);

const PARTITIONS = 6;
const SESSION_TIMEOUT_MS = 4000;

/**
 * One consumer group, several members, rebalances while records flow: a member joins while
 * another is stuck in a batch (so the stuck one is dropped from the group and its uncommitted
 * batch is consumed again by the new owner), then a member leaves. Nothing is lost; what is
 * delivered twice is absorbed by an idempotent handler (a Set), and the test counts it.
 */
describe('KafkaMessageBus: a consumer group rebalancing in the middle of consumption', () => {
  const run = randomToken(4).toLowerCase().replace(/[^a-z0-9]/g, 'x');
  // A topic of the test's own, so that its partitions and records are only these.
  const topic: TopicDef<DeviceEventV1> = { name: `borealis.test.rebalance.${run}.v1`, schema: DeviceEventV1, key: (m) => m.deviceId, compacted: false };
  const group = `test.${run}.rebalance`;
  const buses: KafkaMessageBus[] = [];
  /** Ends member A's stuck batch (also on failure, or its bus would never stop). */
  const release = deferred<void>();

  afterAll(async () => {
    release.resolve();
    await Promise.all(buses.map((b) => b.stop()));
  });

  function newBus(clientId: string): KafkaMessageBus {
    const bus = new KafkaMessageBus({
      brokers: [requireKafka()],
      clientId,
      topicCreation: 'admin',
      partitions: PARTITIONS,
      replicationFactor: 1,
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
      heartbeatIntervalMs: 500,
      maxWaitTimeMs: 50,
      requestTimeoutMs: 5000,
    });
    buses.push(bus);
    return bus;
  }

  /** The idempotent effect (a Set of ids) and every raw delivery, per member. */
  const effect = new Set<string>();
  const raw = new Map<string, number>();
  const partitionsOf = { a: new Set<number>(), b: new Set<number>() };
  const consumedBy = { a: 0, b: 0 };
  const record = (member: 'a' | 'b', messages: BusMessage<DeviceEventV1>[]) => {
    for (const m of messages) {
      effect.add(m.value.deviceId);
      raw.set(m.value.deviceId, (raw.get(m.value.deviceId) ?? 0) + 1);
      partitionsOf[member].add(m.partition);
    }
    consumedBy[member] += messages.length;
  };

  async function member(name: string, handler: (messages: BusMessage<DeviceEventV1>[]) => Promise<void>): Promise<KafkaMessageBus> {
    const bus = newBus(`rebalance-${name}`);
    await bus.subscribe({ topic, group, handler });
    await bus.start();
    return bus;
  }

  it('loses nothing; a batch consumed twice is absorbed by the idempotent handler', async () => {
    const published: string[] = [];
    const publisher = newBus('rebalance-publisher');
    await publisher.start();
    const publish = async (from: number, count: number) => {
      // Many keys, so that every partition gets records.
      const ids = Array.from({ length: count }, (_, i) => `${run}-${from + i}`);
      await publisher.publish(
        topic,
        ids.map((deviceId, i) => ({ value: { kind: 'connected' as const, deviceId, instanceId: 't-0', atMs: from + i } })),
      );
      published.push(...ids);
    };

    // Member A alone. Once armed, its next batch records its effect and then hangs (as if its
    // commit to the database were stuck): the batch is handled but its offsets are not committed.
    let stall: { entered: (ids: string[]) => void; release: Promise<void> } | null = null;
    const a = await member('a', async (messages) => {
      record('a', messages);
      const s = stall;
      if (s) {
        stall = null;
        s.entered(messages.map((m) => m.value.deviceId));
        await s.release;
      }
    });
    await expectEventually(() => expect(a.isReady()).toBe(true), { timeoutMs: 30_000 });
    for (let i = 0; i < 5; i++) await publish(i * 100, 100);
    await expectEventually(() => expect(effect.size).toBe(500), { timeoutMs: 30_000 });

    const entered = deferred<string[]>();
    stall = { entered: entered.resolve, release: release.promise };
    await publish(500, 200);
    const stuck = await entered.promise;
    expect(stuck.length).toBeGreaterThan(0);

    // Member B joins while A is stuck: A cannot rejoin (nor heartbeat) until its batch ends, so the
    // group drops it and B takes every partition from the last committed offsets, A's stuck batch
    // included.
    const b = await member('b', async (messages) => record('b', messages));
    const publishing = (async () => {
      for (let i = 0; i < 10; i++) await publish(700 + i * 100, 100);
    })();
    await expectEventually(() => expect(stuck.every((id) => (raw.get(id) ?? 0) >= 2)).toBe(true), { timeoutMs: 30_000, message: "A's stuck batch was not consumed again by B" });
    await expectEventually(() => expect(partitionsOf.b.size).toBe(PARTITIONS), { timeoutMs: 30_000 });

    // A's batch ends now: its commit belongs to a generation that is gone. A rejoins and the group
    // splits the partitions again, while records keep flowing.
    const aAtRelease = consumedBy.a;
    release.resolve();
    await publishing;
    await expectEventually(() => expect({ a: a.isReady(), b: b.isReady() }).toEqual({ a: true, b: true }), { timeoutMs: 30_000 });
    let round = 0;
    await expectEventually(
      async () => {
        await publish(1_000_000 + 100 * round++, 100);
        expect(consumedBy.a).toBeGreaterThan(aAtRelease);
      },
      { timeoutMs: 30_000, intervalMs: 500, message: 'A did not get partitions back after it rejoined' },
    );

    // A leaves cleanly in the middle of the stream; B takes over again.
    const tail = (async () => {
      for (let i = 0; i < 10; i++) await publish(2_000_000 + i * 100, 100);
    })();
    await a.stop();
    await tail;

    await expectEventually(() => expect(published.filter((id) => !effect.has(id))).toEqual([]), { timeoutMs: 30_000, message: 'records lost' });
    const deliveries = [...raw.values()].reduce((sum, n) => sum + n, 0);
    const twice = [...raw.values()].filter((n) => n > 1).length;
    // The effect is exactly what was published: no loss, and the duplicates changed nothing.
    expect(effect).toEqual(new Set(published));
    expect(deliveries).toBe(published.length + [...raw.values()].reduce((sum, n) => sum + n - 1, 0));
    // At least A's stuck batch was delivered twice (to A, then to B).
    expect(twice).toBeGreaterThanOrEqual(stuck.length);
    process.stderr.write(`[rebalance] published ${published.length}, raw deliveries ${deliveries}, seen twice or more ${twice} (stuck batch ${stuck.length})\n`);
  });
});
