import { Controller, Inject, Module, type INestMicroservice } from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { lastValueFrom } from 'rxjs';
import { DomainError, ErrorCode, Topics, transportInboxTopic, type DeviceEventV1, type TransportInboxV1 } from '@borealis/contracts';
import { REQUEST_ID_HEADER } from '../context';
import { InProcessMessageBus } from '../in-process-bus';
import { BusClient } from './bus-client';
import { BusContext } from './bus-context';
import { BusEventPattern } from './bus-pattern';
import { BusTransport, resolverOf } from './bus-transport';

const event = (deviceId: string, atMs = 1): DeviceEventV1 => ({ kind: 'connected', deviceId, instanceId: 'i-1', atMs });
const INSTANCE = Symbol('instance');

interface Call {
  handler: string;
  ids: string[];
  topic: string;
  group: string;
  requestId: string | undefined;
  partitions: number;
}

const calls: Call[] = [];
const failures = { retryable: 0 };

function record(handler: string, values: DeviceEventV1[], ctx: BusContext): void {
  calls.push({ handler, ids: values.map((v) => v.deviceId), topic: ctx.getTopic(), group: ctx.getGroup(), requestId: ctx.getRequestId(), partitions: ctx.getPartitions().length });
}

@Controller()
class DeviceEventsController {
  @BusEventPattern(Topics.deviceEvents, { group: 'a' })
  async first(@Payload() values: DeviceEventV1[], @Ctx() ctx: BusContext<DeviceEventV1>): Promise<void> {
    if (values.some((v) => v.deviceId.startsWith('bad'))) throw new DomainError(ErrorCode.InvalidArgument, 'a bad device id');
    if (values.some((v) => v.deviceId.startsWith('flaky')) && failures.retryable-- > 0) throw new Error('database unreachable');
    record('first', values, ctx);
  }

  // Same topic, another group: its own consumer, its own copy of every record.
  @BusEventPattern(Topics.deviceEvents, { group: (resolve) => `b-${resolve<string>(INSTANCE)}` })
  async second(@Payload() values: DeviceEventV1[], @Ctx() ctx: BusContext<DeviceEventV1>): Promise<void> {
    record('second', values, ctx);
  }
}

@Controller()
class MoreDeviceEventsController {
  // Same topic and group as `first`: runs on the same batches, after it.
  @BusEventPattern(Topics.deviceEvents, { group: 'a' })
  async third(@Payload() values: DeviceEventV1[], @Ctx() ctx: BusContext<DeviceEventV1>): Promise<void> {
    record('third', values, ctx);
  }

  @BusEventPattern({ pattern: 'inbox', topic: (resolve) => transportInboxTopic(resolve<string>(INSTANCE)) }, { group: 'inbox' })
  async inbox(@Payload() values: TransportInboxV1[]): Promise<void> {
    calls.push({ handler: 'inbox', ids: values.map((v) => v.deviceId), topic: '', group: '', requestId: undefined, partitions: 0 });
  }
}

@Module({ controllers: [DeviceEventsController, MoreDeviceEventsController], providers: [{ provide: INSTANCE, useValue: 'i-7' }] })
class EventsModule {}

async function start(module: unknown, bus: InProcessMessageBus): Promise<INestMicroservice> {
  const moduleRef = await Test.createTestingModule({ imports: [module as typeof EventsModule] }).compile();
  const app = moduleRef.createNestMicroservice({ strategy: new BusTransport(bus, resolverOf(moduleRef)), logger: false });
  await app.listen();
  await bus.start();
  return app;
}

describe('BusTransport over the in-process bus', () => {
  let bus: InProcessMessageBus;
  let app: INestMicroservice;

  beforeEach(async () => {
    calls.length = 0;
    failures.retryable = 0;
    bus = new InProcessMessageBus({ retryBaseMs: 1 });
    app = await start(EventsModule, bus);
  });

  afterEach(async () => {
    await bus.stop();
    await app.close();
  });

  it('hands each group a batch of decoded values with its context, and publish resolves after every handler', async () => {
    await bus.publish(Topics.deviceEvents, [{ value: event('d1'), headers: { [REQUEST_ID_HEADER]: 'req-1' } }, { value: event('d2'), headers: { [REQUEST_ID_HEADER]: 'req-1' } }]);
    expect(calls).toEqual(
      expect.arrayContaining([
        { handler: 'first', ids: ['d1', 'd2'], topic: Topics.deviceEvents.name, group: 'a', requestId: 'req-1', partitions: 1 },
        { handler: 'third', ids: ['d1', 'd2'], topic: Topics.deviceEvents.name, group: 'a', requestId: 'req-1', partitions: 1 },
        { handler: 'second', ids: ['d1', 'd2'], topic: Topics.deviceEvents.name, group: 'b-i-7', requestId: 'req-1', partitions: 1 },
      ]),
    );
    expect(calls).toHaveLength(3);
    // Within one group, the chained handlers run in declaration order.
    expect(calls.filter((c) => c.group === 'a').map((c) => c.handler)).toEqual(['first', 'third']);
  });

  it('subscribes a topic whose name is resolved from the app when the transport starts', async () => {
    await bus.publish(transportInboxTopic('i-7'), [{ value: { kind: 'cancel', deviceId: 'd9', messageIds: ['m1'], atMs: 1 } }]);
    expect(calls).toEqual([{ handler: 'inbox', ids: ['d9'], topic: '', group: '', requestId: undefined, partitions: 0 }]);
  });

  it('dead-letters bad input as it was thrown (not as "Internal server error") and keeps the good records', async () => {
    await bus.publish(Topics.deviceEvents, [{ value: event('bad-1') }, { value: event('good-1') }]);
    expect(bus.deadLetters).toEqual([expect.objectContaining({ consumerGroup: 'a', reason: expect.stringContaining('a bad device id') })]);
    expect(JSON.parse(bus.deadLetters[0]!.value)).toMatchObject({ deviceId: 'bad-1' });
    // Group a replayed the batch one record at a time: good-1 was handled by both of its handlers.
    expect(calls.filter((c) => c.group === 'a')).toEqual([expect.objectContaining({ handler: 'first', ids: ['good-1'] }), expect.objectContaining({ handler: 'third', ids: ['good-1'] })]);
    expect(calls.filter((c) => c.group === 'b-i-7').map((c) => c.ids)).toEqual([['bad-1', 'good-1']]);
  });

  it('retries a retryable failure with the same batch, and the publish waits for the success', async () => {
    failures.retryable = 2;
    await bus.publish(Topics.deviceEvents, [{ value: event('flaky-1') }]);
    expect(failures.retryable).toBe(-1);
    expect(bus.deadLetters).toEqual([]);
    expect(calls.filter((c) => c.group === 'a').map((c) => c.handler)).toEqual(['first', 'third']);
  });

  it('publishes through BusClient.emit and publishBatch, and refuses send', async () => {
    const client = new BusClient(bus);
    await lastValueFrom(client.emit(Topics.deviceEvents, [{ value: event('e1') }]), { defaultValue: undefined });
    await client.publishBatch(Topics.deviceEvents, [{ value: event('e2') }]);
    expect(calls.filter((c) => c.handler === 'first').map((c) => c.ids)).toEqual([['e1'], ['e2']]);
    await expect(lastValueFrom(client.send(Topics.deviceEvents, [{ value: event('e3') }]))).rejects.toThrow(/no request-reply/);
    await expect(lastValueFrom(client.emit('borealis.transport.device.event.v1', [{ value: event('e4') }]))).rejects.toThrow(/must be a topic/);
    await expect(lastValueFrom(client.emit(Topics.deviceEvents, { value: event('e5') }))).rejects.toThrow(/array of records/);
  });

  it('dead-letters at the consumer a record emitted with a value its schema refuses', async () => {
    const client = new BusClient(bus);
    await lastValueFrom(client.emit(Topics.deviceEvents, [{ value: { kind: 'connected', deviceId: 'x' } as unknown as DeviceEventV1 }]), { defaultValue: undefined });
    expect(bus.deadLetters).toEqual(expect.arrayContaining([expect.objectContaining({ consumerGroup: 'a', reason: expect.stringContaining('does not match') })]));
    expect(calls).toEqual([]);
  });
});

describe('BusTransport refuses handlers it cannot consume', () => {
  @Controller()
  class PlainPattern {
    @EventPattern(Topics.deviceEvents.name)
    handle(): Promise<void> {
      return Promise.resolve();
    }
  }
  @Module({ controllers: [PlainPattern] })
  class PlainModule {}

  @Controller()
  class RequestReply {
    @MessagePattern('ask')
    answer(): string {
      return 'no';
    }
  }
  @Module({ controllers: [RequestReply] })
  class RequestReplyModule {}

  @Controller()
  class NeedsResolver {
    constructor(@Inject(INSTANCE) readonly instance: string) {}
    @BusEventPattern(Topics.deviceEvents, { group: (resolve) => resolve<string>(INSTANCE) })
    handle(): Promise<void> {
      return Promise.resolve();
    }
  }

  it('an @EventPattern without a topic and group for the bus', async () => {
    await expect(start(PlainModule, new InProcessMessageBus())).rejects.toThrow(/declare it with @BusEventPattern/);
  });

  it('an @MessagePattern (request-reply)', async () => {
    await expect(start(RequestReplyModule, new InProcessMessageBus())).rejects.toThrow(/no request-reply/);
  });

  it('a second listen (the handlers are subscribed once)', async () => {
    const bus = new InProcessMessageBus();
    const moduleRef = await Test.createTestingModule({ imports: [EventsModule] }).compile();
    const transport = new BusTransport(bus, resolverOf(moduleRef));
    await moduleRef.createNestMicroservice({ strategy: transport, logger: false }).listen();
    const second = new Promise<unknown>((resolve) => void transport.listen(resolve));
    await expect(second).resolves.toEqual(expect.objectContaining({ message: expect.stringMatching(/listening already/) }));
  });

  it('a resolvable group when the transport has no resolver', async () => {
    const moduleRef = await Test.createTestingModule({ controllers: [NeedsResolver], providers: [{ provide: INSTANCE, useValue: 'x' }] }).compile();
    const app = moduleRef.createNestMicroservice({ strategy: new BusTransport(new InProcessMessageBus()), logger: false });
    await expect(app.listen()).rejects.toThrow(/without a resolver/);
  });
});
