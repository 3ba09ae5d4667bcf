import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { lastValueFrom } from 'rxjs';
import { DomainError, ErrorCode, Topics, type DeadLetterV1, type DeviceEventV1, type TopicDef } from '@borealis/contracts';
import { expectEventually, requireKafka } from '@borealis/testing';
import { randomToken } from '@borealis/util';
import { Correlation } from '../context';
import { KafkaMessageBus } from '../kafka-bus';
import { BusClient } from './bus-client';
import { BusContext } from './bus-context';
import { BusEventPattern } from './bus-pattern';
import { BusTransport, resolverOf } from './bus-transport';

jest.setTimeout(90_000);

// The broker lives as long as the test run: topics and groups are this run's own.
const run = randomToken(4).toLowerCase().replace(/[^a-z0-9]/g, 'x');
const TOPIC: TopicDef<DeviceEventV1> = { ...Topics.deviceEvents, name: `test.${run}.nest` };
const RUN = Symbol('run');

const handled: { ids: string[]; requestId: string | undefined; offsets: string[] }[] = [];
const failures = { retryable: 0 };

@Controller()
class EventsController {
  @BusEventPattern(TOPIC, { group: (resolve) => `test.${resolve<string>(RUN)}.nest` })
  async handle(@Payload() events: DeviceEventV1[], @Ctx() ctx: BusContext<DeviceEventV1>): Promise<void> {
    if (events.some((e) => e.deviceId.startsWith('poison'))) throw new DomainError(ErrorCode.InvalidArgument, 'poison device');
    if (events.some((e) => e.deviceId.startsWith('flaky')) && failures.retryable-- > 0) throw new Error('store unavailable');
    handled.push({ ids: events.map((e) => e.deviceId), requestId: ctx.getRequestId(), offsets: ctx.getMessages().map((m) => m.offset) });
  }
}

@Module({ controllers: [EventsController], providers: [{ provide: RUN, useValue: run }] })
class EventsModule {}

function newBus(clientId: string): KafkaMessageBus {
  return new KafkaMessageBus({
    brokers: [requireKafka()],
    clientId,
    topicCreation: 'admin',
    partitions: 2,
    replicationFactor: 1,
    sessionTimeoutMs: 4000,
    heartbeatIntervalMs: 1000,
    maxWaitTimeMs: 50,
    requestTimeoutMs: 5000,
  });
}

/** As a service starts: transport connected and subscribed, then the bus started (the platform's order). */
async function startService(bus: KafkaMessageBus): Promise<INestMicroservice> {
  const moduleRef = await Test.createTestingModule({ imports: [EventsModule] }).compile();
  const app = moduleRef.createNestMicroservice({ strategy: new BusTransport(bus, resolverOf(moduleRef)) });
  await app.listen();
  await bus.start();
  await expectEventually(() => expect(bus.isReady()).toBe(true), { timeoutMs: 30_000 });
  return app;
}

const event = (deviceId: string): { value: DeviceEventV1 } => ({ value: { kind: 'connected', deviceId, instanceId: 't', atMs: 1 } });
const ids = () => handled.flatMap((h) => h.ids);

describe('BusTransport on the Kafka broker', () => {
  it('consumes through @BusEventPattern handlers: batches with their context, retries, dead letters, and commits after the effect', async () => {
    const bus = newBus('nest-transport-1');
    let app = await startService(bus);
    const letters: DeadLetterV1[] = [];
    // The operators' view of the dead-letter topic (a test capture, not a service consumer).
    const reader = newBus('nest-transport-dlq');
    await reader.subscribe({ topic: Topics.deadLetter, group: `test.${run}.nest-dlq`, handler: async (ms) => void letters.push(...ms.map((m) => m.value)) });
    await reader.start();
    try {
      const client = new BusClient(bus);
      failures.retryable = 1;
      await Correlation.run(`req-${run}`, () => lastValueFrom(client.emit(TOPIC, [event('a-1'), event('a-2'), event('flaky-1')]), { defaultValue: undefined }));
      await client.publishBatch(TOPIC, [event('poison-1'), event('b-1')]);

      await expectEventually(() => expect(ids()).toEqual(expect.arrayContaining(['a-1', 'a-2', 'flaky-1', 'b-1'])), { timeoutMs: 30_000 });
      expect(ids()).not.toContain('poison-1');
      expect(failures.retryable).toBe(-1);
      expect(handled.find((h) => h.ids.includes('a-1'))!.requestId).toBe(`req-${run}`);
      await expectEventually(
        () => expect(letters.filter((l) => l.topic === TOPIC.name)).toEqual([expect.objectContaining({ consumerGroup: `test.${run}.nest`, reason: expect.stringContaining('poison device') })]),
        { timeoutMs: 30_000 },
      );

      // The offsets were committed after the handler: a restarted service does not see them again.
      await bus.stop();
      await app.close();
      const before = ids().length;
      const again = newBus('nest-transport-2');
      app = await startService(again);
      await new BusClient(again).publishBatch(TOPIC, [event('c-1')]);
      await expectEventually(() => expect(ids()).toContain('c-1'), { timeoutMs: 30_000 });
      expect(ids().slice(before)).toEqual(['c-1']);
      await again.stop();
    } finally {
      await reader.stop();
      await app.close();
    }
  });
});
