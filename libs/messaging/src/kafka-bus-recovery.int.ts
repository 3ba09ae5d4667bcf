import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { DeviceEventV1, type TopicDef } from '@borealis/contracts';
import { expectEventually, requireKafka, startKafkaBroker, type KafkaBrokerHandle } from '@borealis/testing';
import { KafkaMessageBus } from './kafka-bus';

jest.setTimeout(150_000);

/**
 * kafkajs gives a consumer up for good after an error it deems non-retriable, such as finding no
 * group coordinator (a broker that cannot host the group's offsets yet). The bus must start a new
 * consumer in its place, or the service would never consume (nor be ready) again.
 */
describe('KafkaMessageBus: a consumer kafkajs gave up on', () => {
  const dir = mkdtempSync(join(tmpdir(), 'borealis-bus-recovery-'));
  let broker: KafkaBrokerHandle | undefined;
  let bus: KafkaMessageBus | undefined;

  afterAll(async () => {
    await bus?.stop();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is replaced, and consumes once the group coordinator is there', async () => {
    requireKafka();
    // One broker that cannot create the offsets topic (it wants 3 replicas): no group coordinator.
    broker = await startKafkaBroker({ dir, heapMb: 384, serverProperties: { 'offsets.topic.replication.factor': '3' } });
    const topic: TopicDef<DeviceEventV1> = { name: 'borealis.test.recovery.v1', schema: DeviceEventV1, key: (m) => m.deviceId, compacted: false };
    const crashes: string[] = [];
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(function (this: Logger, message: unknown) {
      const line = message as { msg?: string; restart?: boolean };
      if (line?.msg === 'consumer crashed' && line.restart === false) crashes.push(String(line.msg));
    });
    const seen: string[] = [];
    bus = new KafkaMessageBus({
      brokers: [broker.brokers],
      clientId: 'bus-recovery',
      topicCreation: 'admin',
      partitions: 1,
      replicationFactor: 1,
      sessionTimeoutMs: 4000,
      heartbeatIntervalMs: 500,
      maxWaitTimeMs: 50,
      requestTimeoutMs: 2000,
    });
    await bus.subscribe({ topic, group: 'test.recovery', handler: async (ms) => void seen.push(...ms.map((m) => m.value.deviceId)) });
    await bus.start();
    await expectEventually(() => expect(crashes.length).toBeGreaterThan(0), { timeoutMs: 60_000, intervalMs: 200, message: 'no crash that kafkajs would not restart' });
    expect(bus.isReady()).toBe(false);

    // The same broker again, now able to host the group: the bus recovers by itself.
    await broker.stop();
    broker = await startKafkaBroker({ dir, heapMb: 384 });
    await expectEventually(() => expect(bus!.isReady()).toBe(true), { timeoutMs: 60_000, intervalMs: 200, message: 'the bus did not recover' });
    await bus.publish(topic, [{ value: { kind: 'connected', deviceId: 'after-recovery', instanceId: 't-0', atMs: 1 } }]);
    await expectEventually(() => expect(seen).toContain('after-recovery'), { timeoutMs: 30_000 });
    logged.mockRestore();
  });
});
