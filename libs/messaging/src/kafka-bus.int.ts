import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { Topics, DomainError, ErrorCode, transportInboxTopic, type DeviceEventV1, type DeadLetterV1, type TopicDef } from '@borealis/contracts';
import { expectEventually, kafkaSaslSsl, kafkaSsl, requireKafka, startOwnKafkaBroker, type OwnKafkaBroker } from '@borealis/testing';
import { deferred, randomToken } from '@borealis/util';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { Correlation } from './context';
import { KafkaMessageBus, type KafkaBusOptions } from './kafka-bus';
import { KafkaRecordTooLargeError, KafkaTlsError } from './kafka-producer';
import { KafkaAuthenticationError } from './kafka-sasl';
import type { BusMessage } from './message-bus';
import type { BusObserver } from './observer';

jest.setTimeout(60_000);

/** A bus on the shared test broker, or on `brokers` (with a short request timeout) when given. */
function newBus(clientId: string, observer?: BusObserver, brokers?: string, extra: Partial<KafkaBusOptions> = {}): KafkaMessageBus {
  return new KafkaMessageBus({
    ...(observer ? { observer } : {}),
    brokers: [brokers ?? requireKafka()],
    clientId,
    topicCreation: 'admin',
    partitions: brokers ? 1 : 4,
    replicationFactor: 1,
    sessionTimeoutMs: 4000,
    heartbeatIntervalMs: 1000,
    maxWaitTimeMs: 50,
    requestTimeoutMs: brokers ? 1000 : 5000,
    ...extra,
  });
}

describe('KafkaMessageBus on the Kafka broker', () => {
  // Group names are unique per run: the broker lives as long as the test run.
  const run = randomToken(4).toLowerCase().replace(/[^a-z0-9]/g, 'x');
  let bus: KafkaMessageBus;

  afterEach(async () => {
    await bus?.stop();
  });

  it('publishes with acks from all replicas and consumes validated batches in key order', async () => {
    bus = newBus('bus-test-1');
    const seen: BusMessage<DeviceEventV1>[] = [];
    await bus.subscribe({ topic: Topics.deviceEvents, group: `test.${run}.order`, handler: async (ms) => void seen.push(...ms) });
    await bus.start();
    await expectEventually(() => expect(bus.isReady()).toBe(true), { timeoutMs: 20_000 });
    const device = `dev-${run}`;
    await bus.publish(
      Topics.deviceEvents,
      [1, 2, 3].map((atMs) => ({ value: { kind: 'connected' as const, deviceId: device, instanceId: 't-0', atMs }, headers: { 'x-request-id': `r${atMs}` } })),
    );
    await expectEventually(() => expect(seen.filter((m) => m.value.deviceId === device).map((m) => m.value.atMs)).toEqual([1, 2, 3]), { timeoutMs: 20_000 });
    const first = seen.find((m) => m.value.deviceId === device)!;
    expect(first.key).toBe(device);
    expect(first.headers['x-request-id']).toBe('r1');
  });

  it('sends the records published to a topic in one turn as one request, which consumers get as one batch', async () => {
    bus = newBus('bus-test-coalesce');
    const batches: string[][] = [];
    const device = `coalesced-${run}`;
    await bus.subscribe({
      topic: Topics.deviceEvents,
      group: `test.${run}.coalesce`,
      handler: async (ms) => {
        const mine = ms.filter((m) => m.value.deviceId === device).map((m) => String(m.value.atMs));
        if (mine.length > 0) batches.push(mine);
      },
    });
    await bus.start();
    await expectEventually(() => expect(bus.isReady()).toBe(true), { timeoutMs: 20_000 });
    // Five publishers in the same turn (e.g. five devices' acknowledgements read in one I/O phase).
    await Promise.all([1, 2, 3, 4, 5].map((atMs) => bus.publish(Topics.deviceEvents, [{ value: { kind: 'connected' as const, deviceId: device, instanceId: 't-0', atMs } }])));
    await expectEventually(() => expect(batches.flat()).toEqual(['1', '2', '3', '4', '5']), { timeoutMs: 20_000 });
    // One produce request writes one record batch per partition; the consumer fetches it whole.
    expect(batches).toHaveLength(1);
  });

  it('hands the batches of every partition of a fetch to one handler call, in partition order, and commits them together after it', async () => {
    // More partitions than the bus once handled at a time (4), on a topic of the test's own.
    const partitions = 6;
    bus = newBus('bus-test-merged', undefined, undefined, { partitions });
    const topic: TopicDef<DeviceEventV1> = { ...Topics.deviceEvents, name: `test.${run}.merged` };
    const group = `test.${run}.merged`;
    const admin = new Kafka({ brokers: [requireKafka()], clientId: 'merged-admin', logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const committed = async () => {
      const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic.name] });
      return new Map(offsets!.partitions.map((p) => [p.partition, Number(p.offset)]));
    };
    try {
      const calls: { partition: number; offset: number; deviceId: string; atMs: number }[][] = [];
      const gate = deferred<void>();
      const gateEntered = deferred<void>();
      let failuresLeft = 2;
      const committedWhileFailing: Map<number, number>[] = [];
      await bus.subscribe({
        topic,
        group,
        handler: async (ms) => {
          calls.push(ms.map((m) => ({ partition: m.partition, offset: Number(m.offset), deviceId: m.value.deviceId, atMs: m.value.atMs })));
          if (ms.some((m) => m.value.deviceId === `gate-${run}`)) {
            gateEntered.resolve();
            await gate.promise;
            return;
          }
          // The merged batch fails twice (retryable): what is committed meanwhile is read here.
          if (failuresLeft > 0) {
            if (failuresLeft < 2) committedWhileFailing.push(await committed());
            failuresLeft--;
            throw new Error('transient');
          }
        },
      });
      await bus.start();
      await expectEventually(() => expect(bus.isReady()).toBe(true), { timeoutMs: 20_000 });
      const consumer = (bus as unknown as { consuming: { consumer: Consumer }[] }).consuming[0]!.consumer;
      const commits = jest.spyOn(consumer, 'commitOffsets');

      // The consumer holds one record's batch while records for many keys (so, many partitions)
      // arrive: its next fetch brings them all.
      await bus.publish(topic, [{ value: { kind: 'connected', deviceId: `gate-${run}`, instanceId: 't', atMs: 0 } }]);
      await gateEntered.promise;
      const keys = Array.from({ length: 12 }, (_, k) => `merged-${run}-${k}`);
      for (let round = 1; round <= 3; round++) await bus.publish(topic, keys.map((deviceId) => ({ value: { kind: 'connected' as const, deviceId, instanceId: 't', atMs: round } })));
      gate.resolve();

      const isMerged = (call: { deviceId: string }[]) => call.some((m) => m.deviceId.startsWith(`merged-${run}-`));
      await expectEventually(() => expect(calls.filter(isMerged)).toHaveLength(3), { timeoutMs: 20_000 });
      const merged = calls.filter(isMerged);
      // Two failed attempts and the one that succeeded, each with every record of every partition.
      for (const call of merged) expect(call).toHaveLength(36);
      const call = merged[2]!;
      const used = [...new Set(call.map((m) => m.partition))];
      expect(used.length).toBeGreaterThan(1);
      // Partition order, then each partition's own order (each key's records in publish order).
      expect(used).toEqual([...used].sort((a, b) => a - b));
      expect(call.map((m) => m.partition)).toEqual([...call.map((m) => m.partition)].sort((a, b) => a - b));
      for (const key of keys) expect(call.filter((m) => m.deviceId === key).map((m) => m.atMs)).toEqual([1, 2, 3]);

      // Nothing of the merged batch was committed while its handler failed.
      expect(committedWhileFailing).toHaveLength(1);
      for (const partition of used) {
        const first = Math.min(...call.filter((m) => m.partition === partition).map((m) => m.offset));
        expect(committedWhileFailing[0]!.get(partition) ?? -1).toBeLessThanOrEqual(first);
      }
      // After it succeeded, every partition's offset in one commit request, past its last record.
      // (A partition no key of this test maps to has nothing to commit.)
      const ends = new Map((await admin.fetchTopicOffsets(topic.name)).filter((p) => Number(p.offset) > 0).map((p) => [p.partition, Number(p.offset)]));
      await expectEventually(async () => expect(new Map([...(await committed())].filter(([partition]) => ends.has(partition)))).toEqual(ends), { timeoutMs: 10_000 });
      const commitOf = commits.mock.calls.map(([offsets]) => offsets.map((o) => o.partition)).find((ps) => ps.length > 1);
      expect(commitOf).toEqual(used);
    } finally {
      await admin.disconnect();
    }
  });

  it('dead-letters malformed records and bad input, retries the rest, and commits past them', async () => {
    bus = newBus('bus-test-2');
    const handled: string[] = [];
    let failuresLeft = 2;
    await bus.subscribe({
      topic: Topics.deviceEvents,
      group: `test.${run}.dlq`,
      handler: async (ms) => {
        for (const m of ms) if (m.value.deviceId === `poison-${run}`) throw new DomainError(ErrorCode.InvalidArgument, 'poison');
        if (failuresLeft-- > 0) throw new Error('transient');
        handled.push(...ms.map((m) => m.value.deviceId));
      },
    });
    const letters: DeadLetterV1[] = [];
    await bus.subscribe({ topic: Topics.deadLetter, group: `test.${run}.dlq-reader`, handler: async (ms) => void letters.push(...ms.map((m) => m.value)) });
    await bus.start();
    await expectEventually(() => expect(bus.isReady()).toBe(true), { timeoutMs: 20_000 });

    // A record no schema accepts, written by a raw producer.
    // (The bus made the topic when it started; the broker creates none by itself.)
    const kafka = new Kafka({ brokers: [requireKafka()], clientId: 'raw', logLevel: logLevel.NOTHING });
    const raw = kafka.producer();
    await raw.connect();
    await raw.send({ topic: Topics.deviceEvents.name, messages: [{ key: `junk-${run}`, value: '{"not":"an event"' }] });
    await raw.disconnect();
    await bus.publish(Topics.deviceEvents, [
      { value: { kind: 'connected', deviceId: `poison-${run}`, instanceId: 't', atMs: 1 } },
      { value: { kind: 'connected', deviceId: `ok-${run}`, instanceId: 't', atMs: 2 } },
    ]);

    await expectEventually(() => expect(handled).toContain(`ok-${run}`), { timeoutMs: 30_000 });
    await expectEventually(
      () => {
        const reasons = letters.filter((l) => l.consumerGroup === `test.${run}.dlq`).map((l) => l.reason);
        expect(reasons).toEqual(expect.arrayContaining([expect.stringContaining('not JSON'), expect.stringContaining('poison')]));
      },
      { timeoutMs: 30_000 },
    );
    expect(handled).not.toContain(`poison-${run}`);
  });

  it('carries the request id through Kafka headers into the consuming handler, and reports to its observer', async () => {
    const events: string[] = [];
    const lags: number[] = [];
    const observer: BusObserver = {
      published: (topic, n) => events.push(`published ${topic} ${n}`),
      publishFailed: (topic) => events.push(`publishFailed ${topic}`),
      handled: (_topic, group, n, _seconds, outcome) => events.push(`handled ${group} ${n} ${outcome}`),
      retried: () => undefined,
      deadLettered: () => undefined,
      lag: (_topic, _group, _partition, records) => lags.push(records),
    };
    bus = newBus('bus-test-3', observer);
    const group = `test.${run}.correlation`;
    // A topic of its own: the handler's context is the batch's, and a batch mixed with other tests'
    // records (without a request id) rightly has none.
    const topic: TopicDef<DeviceEventV1> = { ...Topics.deviceEvents, name: `test.${run}.correlation` };
    const seen: { header: string | undefined; context: string | undefined }[] = [];
    await bus.subscribe({
      topic,
      group,
      handler: async (ms) => {
        for (const m of ms) if (m.value.deviceId === `corr-${run}`) seen.push({ header: m.headers['x-request-id'], context: Correlation.requestId() });
      },
    });
    // A handler's publish names its batch (`causedBy`): its records get the batch's request id
    // without any async context.
    const explicit: TopicDef<DeviceEventV1> = { ...Topics.deviceEvents, name: `test.${run}.correlation-explicit` };
    const seenExplicit: (string | undefined)[] = [];
    await bus.subscribe({ topic: explicit, group: `${group}-explicit`, handler: async (ms) => void seenExplicit.push(...ms.map((m) => m.headers['x-request-id'])) });
    await bus.start();
    await expectEventually(() => expect(bus.isReady()).toBe(true), { timeoutMs: 20_000 });
    await Correlation.run(`req-${run}`, () => bus.publish(topic, [{ value: { kind: 'connected', deviceId: `corr-${run}`, instanceId: 't', atMs: 1 } }]));
    await expectEventually(() => expect(seen).toEqual([{ header: `req-${run}`, context: `req-${run}` }]), { timeoutMs: 30_000 });
    const batch = [{ headers: { 'x-request-id': `batch-${run}` } }, { headers: { 'x-request-id': `batch-${run}` } }];
    await bus.publish(explicit, [{ value: { kind: 'connected', deviceId: 'a', instanceId: 't', atMs: 1 } }, { value: { kind: 'connected', deviceId: 'b', instanceId: 't', atMs: 1 }, headers: { 'x-request-id': 'own' } }], { causedBy: batch });
    await expectEventually(() => expect(seenExplicit.sort()).toEqual([`batch-${run}`, 'own']), { timeoutMs: 30_000 });
    expect(events).toContain(`published ${topic.name} 1`);
    // The handled count and the lag are reported after the handler returned and the offset was committed.
    await expectEventually(() => {
      expect(events.some((e) => e.startsWith(`handled ${group} `) && e.endsWith(' ok'))).toBe(true);
      expect(lags.length).toBeGreaterThan(0);
    }, { timeoutMs: 10_000 });
    expect(lags.every((l) => l >= 0)).toBe(true);
  });

  it('a stop() that comes while start() is still making topics leaves no consumer running', async () => {
    const stoppedEarly = newBus('bus-test-early-stop');
    const seen: string[] = [];
    const group = `test.${run}.early-stop`;
    await stoppedEarly.subscribe({ topic: Topics.deviceEvents, group, handler: async (ms) => void seen.push(...ms.map((m) => m.value.deviceId)) });
    // The stop arrives while the consumer's topic is being made (slow with topicCreation admin).
    const internals = stoppedEarly as unknown as { ensureTopic: (topic: unknown) => Promise<void> };
    const ensureTopic = internals.ensureTopic.bind(stoppedEarly);
    internals.ensureTopic = async (topic) => {
      await stoppedEarly.stop();
      return ensureTopic(topic);
    };
    await stoppedEarly.start();
    expect(stoppedEarly.isReady()).toBe(false);
    // A record for that group: nobody may consume it now.
    bus = newBus('bus-test-early-stop-publisher');
    await bus.start();
    const device = `early-stop-${run}`;
    await bus.publish(Topics.deviceEvents, [{ value: { kind: 'connected', deviceId: device, instanceId: 't', atMs: 1 } }]);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(seen).not.toContain(device);
  });

  it('fails only the publish whose record is larger than a produce request may be, not the others coalesced with it', async () => {
    bus = newBus('bus-test-too-large', undefined, undefined, { maxRequestBytes: 8192 });
    const seen: string[] = [];
    await bus.subscribe({ topic: Topics.deviceEvents, group: `test.${run}.too-large`, handler: async (ms) => void seen.push(...ms.map((m) => m.value.deviceId)) });
    await bus.start();
    await expectEventually(() => expect(bus.isReady()).toBe(true), { timeoutMs: 20_000 });
    const event = (deviceId: string) => ({ value: { kind: 'connected' as const, deviceId, instanceId: 't', atMs: 1 } });
    // Same turn: the three would leave in one request; the large one fails alone.
    const outcomes = await Promise.allSettled([
      bus.publish(Topics.deviceEvents, [event(`small-a-${run}`)]),
      bus.publish(Topics.deviceEvents, [event(`large-${run}-${'x'.repeat(10_000)}`)]),
      bus.publish(Topics.deviceEvents, [event(`small-b-${run}`)]),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(KafkaRecordTooLargeError);
    // Many records over the limit together (about 20 kB) leave in several requests and all arrive.
    const many = Array.from({ length: 100 }, (_, i) => event(`many-${run}-${i}-`.padEnd(120, 'y')));
    await bus.publish(Topics.deviceEvents, many);
    await expectEventually(() => expect(seen.filter((d) => d.startsWith(`many-${run}-`))).toHaveLength(100), { timeoutMs: 20_000 });
    expect(seen).toEqual(expect.arrayContaining([`small-a-${run}`, `small-b-${run}`]));
    expect(seen.some((d) => d.startsWith(`large-${run}`))).toBe(false);
  });

  it('dead-letters a record near the size limit with its value cut, and moves past it', async () => {
    bus = newBus('bus-test-big-letter', undefined, undefined, { maxRequestBytes: 16_384 });
    const handled: string[] = [];
    const group = `test.${run}.big-letter`;
    await bus.subscribe({ topic: Topics.deviceEvents, group, handler: async (ms) => void handled.push(...ms.map((m) => m.value.deviceId)) });
    const letters: DeadLetterV1[] = [];
    await bus.subscribe({ topic: Topics.deadLetter, group: `${group}-reader`, handler: async (ms) => void letters.push(...ms.map((m) => m.value)) });
    await bus.start();
    await expectEventually(() => expect(bus.isReady()).toBe(true), { timeoutMs: 20_000 });
    // 12 kB of quotes: not JSON, and twice as long once quoted into a letter.
    const raw = new Kafka({ brokers: [requireKafka()], clientId: 'raw', logLevel: logLevel.NOTHING }).producer();
    await raw.connect();
    await raw.send({ topic: Topics.deviceEvents.name, messages: [{ key: `big-junk-${run}`, value: '"'.repeat(12_000) }] });
    await raw.disconnect();
    await bus.publish(Topics.deviceEvents, [{ value: { kind: 'connected', deviceId: `after-big-${run}`, instanceId: 't', atMs: 1 } }]);
    await expectEventually(() => expect(handled).toContain(`after-big-${run}`), { timeoutMs: 30_000 });
    await expectEventually(() => expect(letters.filter((l) => l.consumerGroup === group && l.key === `big-junk-${run}`).map((l) => l.reason)).toEqual([expect.stringMatching(/not JSON.*value cut to \d+ of 12000 bytes/)]), { timeoutMs: 30_000 });
  });

  it('services starting together all create and subscribe to a topic none of them had (no start fails on the race)', async () => {
    const topic = transportInboxTopic(`race-${run}`);
    const buses = [1, 2, 3, 4].map((n) => newBus(`bus-test-race-${n}`));
    try {
      for (const [n, b] of buses.entries()) await b.subscribe({ topic, group: `test.${run}.race-${n}`, handler: async () => undefined });
      await Promise.all(buses.map((b) => b.start()));
      await expectEventually(() => expect(buses.map((b) => b.isReady())).toEqual([true, true, true, true]), { timeoutMs: 30_000 });
    } finally {
      await Promise.all(buses.map((b) => b.stop()));
    }
  });

  it('fails publish (instead of pretending) when no broker answers', async () => {
    bus = newBus('nobody', undefined, '127.0.0.1:1');
    await expect(bus.publish(Topics.deviceEvents, [{ value: { kind: 'connected', deviceId: 'd', instanceId: 't', atMs: 1 } }])).rejects.toThrow();
    expect(bus.isReady()).toBe(false);
  });
});

describe('KafkaMessageBus over TLS and SASL (producer, consumers and admin)', () => {
  const run = randomToken(4).toLowerCase().replace(/[^a-z0-9]/g, 'x');
  let bus: KafkaMessageBus | undefined;
  afterEach(async () => {
    await bus?.stop();
    bus = undefined;
  });

  /** Publishes through the bus and waits until its own consumer got the record back. */
  async function roundTrip(name: string, options: Partial<KafkaBusOptions> & { brokers: string[] }): Promise<void> {
    bus = new KafkaMessageBus({
      clientId: `bus-${name}`,
      topicCreation: 'admin',
      partitions: 4,
      replicationFactor: 1,
      sessionTimeoutMs: 4000,
      heartbeatIntervalMs: 1000,
      maxWaitTimeMs: 50,
      requestTimeoutMs: 5000,
      ...options,
    });
    const seen: string[] = [];
    await bus.subscribe({ topic: Topics.deviceEvents, group: `test.${run}.${name}`, handler: async (ms) => void seen.push(...ms.map((m) => m.value.deviceId)) });
    await bus.start();
    await expectEventually(() => expect(bus!.isReady()).toBe(true), { timeoutMs: 30_000 });
    const device = `${name}-${run}`;
    await bus.publish(Topics.deviceEvents, [{ value: { kind: 'connected', deviceId: device, instanceId: 't', atMs: 1 } }]);
    await expectEventually(() => expect(seen).toContain(device), { timeoutMs: 30_000 });
  }

  it.each(['plain', 'scram-sha-256', 'scram-sha-512'] as const)('SASL_SSL with %s: publishes and consumes', async (mechanism) => {
    const listener = kafkaSaslSsl();
    const credentials = mechanism === 'plain' ? listener.plain : listener.scram;
    await roundTrip(`sasl-${mechanism}`, { brokers: [listener.brokers], tls: { ca: readFileSync(listener.ca), rejectUnauthorized: true }, sasl: { mechanism, ...credentials } });
  });

  it('SSL with a client certificate: publishes and consumes', async () => {
    const listener = kafkaSsl();
    await roundTrip('mtls', {
      brokers: [listener.brokers],
      tls: { ca: readFileSync(listener.ca), cert: readFileSync(listener.cert), key: readFileSync(listener.key), rejectUnauthorized: true },
    });
  });

  it('a wrong password fails start() with an authentication error, at once', async () => {
    const listener = kafkaSaslSsl();
    bus = newBus('bus-wrong-password', undefined, listener.brokers, { tls: { ca: readFileSync(listener.ca), rejectUnauthorized: true }, sasl: { mechanism: 'scram-sha-512', username: listener.scram.username, password: 'wrong' } });
    const started = Date.now();
    await expect(bus.start()).rejects.toThrow(KafkaAuthenticationError);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(bus.isReady()).toBe(false);
  });

  it('SSL without a client certificate fails start() with a TLS error that says so', async () => {
    const listener = kafkaSsl();
    bus = newBus('bus-no-cert', undefined, listener.brokers, { tls: { ca: readFileSync(listener.ca), rejectUnauthorized: true } });
    await expect(bus.start()).rejects.toThrow(KafkaTlsError);
    await expect(bus.start()).rejects.toThrow(/requires? a client certificate/);
  });
});

describe('KafkaMessageBus when its broker is gone', () => {
  let own: OwnKafkaBroker | undefined;
  let standIn: Server | undefined;
  afterAll(async () => {
    await own?.close();
    await new Promise((resolve) => (standIn ? standIn.close(resolve) : resolve(undefined)));
  });

  it('stop() ends its consumers for good: no restart after a crash that comes later', async () => {
    requireKafka();
    own = await startOwnKafkaBroker();
    const bus = newBus('bus-test-gone', undefined, own.brokers);
    await bus.subscribe({ topic: Topics.deviceEvents, group: 'test.gone', handler: async () => undefined });
    await bus.start();
    try {
      await expectEventually(() => expect(bus.isReady()).toBe(true), { timeoutMs: 20_000 });
      await own.broker.kill();
      // The broker's port now refuses every connection on accept and counts the attempts: the
      // consumer crashes and kafkajs restarts it, again and again while the bus runs.
      let attempts = 0;
      standIn = createServer((socket) => {
        attempts++;
        socket.destroy();
      });
      await new Promise<void>((resolve) => standIn!.listen(Number(own!.brokers.split(':')[1]), '127.0.0.1', resolve));
      await expectEventually(() => expect(attempts).toBeGreaterThan(1), { timeoutMs: 20_000 });
    } finally {
      await bus.stop();
    }
    // A restart under way when stop() came fails once more; after that, nothing tries again.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    let later = 0;
    standIn!.on('connection', () => later++);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(later).toBe(0);
  });
});
