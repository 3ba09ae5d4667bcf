import { Topics, type DeviceEventV1 } from '@borealis/contracts';
import { Correlation, REQUEST_ID_HEADER } from './context';
import { InProcessMessageBus } from './in-process-bus';
import type { BusObserver } from './observer';

const event = (deviceId: string): DeviceEventV1 => ({ kind: 'connected', deviceId, instanceId: 'i-1', atMs: 1 });

describe('request id propagation through the bus', () => {
  it('writes the current request id into the headers and restores it around the consuming handler', async () => {
    const bus = new InProcessMessageBus();
    const seen: { header: string | undefined; context: string | undefined }[] = [];
    await bus.subscribe({
      topic: Topics.deviceEvents,
      group: 'g',
      handler: async ([m]) => void seen.push({ header: m!.headers[REQUEST_ID_HEADER], context: Correlation.requestId() }),
    });
    await bus.start();
    await Correlation.run('req-1', () => bus.publish(Topics.deviceEvents, [{ value: event('a') }]));
    await bus.publish(Topics.deviceEvents, [{ value: event('b') }]);
    expect(seen).toEqual([
      { header: 'req-1', context: 'req-1' },
      { header: undefined, context: undefined },
    ]);
  });

  it('keeps a request id the publisher set explicitly', () => {
    expect(Correlation.run('outer', () => Correlation.withRequestId({ [REQUEST_ID_HEADER]: 'own' }, Correlation.forPublish(undefined)))).toEqual({ [REQUEST_ID_HEADER]: 'own' });
    expect(Correlation.run('outer', () => Correlation.withRequestId({}, Correlation.forPublish(undefined)))).toEqual({ [REQUEST_ID_HEADER]: 'outer' });
    expect(Correlation.ofBatch([{ headers: { [REQUEST_ID_HEADER]: 'a' } }, { headers: { [REQUEST_ID_HEADER]: 'b' } }])).toBeUndefined();
    expect(Correlation.ofBatch([{ headers: { [REQUEST_ID_HEADER]: 'a' } }, { headers: { [REQUEST_ID_HEADER]: 'a' } }])).toBe('a');
  });
});

describe('request ids passed explicitly only (Correlation.setImplicit(false))', () => {
  afterEach(() => Correlation.setImplicit(true));

  it('neither enters nor reads a context, and a record keeps the id its publisher set', async () => {
    Correlation.setImplicit(false);
    expect(Correlation.run('req-1', () => Correlation.requestId())).toBeUndefined();
    expect(Correlation.run('req-1', () => Correlation.forPublish(undefined))).toBeUndefined();
    const bus = new InProcessMessageBus();
    const seen: (string | undefined)[] = [];
    await bus.subscribe({ topic: Topics.deviceEvents, group: 'g', handler: async ([m]) => void seen.push(m!.headers[REQUEST_ID_HEADER]) });
    await bus.start();
    await bus.publish(Topics.deviceEvents, [{ value: event('a'), headers: { [REQUEST_ID_HEADER]: 'req-2' } }]);
    await Correlation.run('req-3', () => bus.publish(Topics.deviceEvents, [{ value: event('b') }]));
    expect(seen).toEqual(['req-2', undefined]);
  });

  it('gives a handler\'s records the request id of the batch it names (causedBy), if they lack one', async () => {
    Correlation.setImplicit(false);
    const bus = new InProcessMessageBus();
    const seen: (string | undefined)[] = [];
    await bus.subscribe({ topic: Topics.deviceEvents, group: 'g', handler: async (ms) => void seen.push(...ms.map((m) => m.headers[REQUEST_ID_HEADER])) });
    await bus.start();
    const same = [{ headers: { [REQUEST_ID_HEADER]: 'req-4' } }, { headers: { [REQUEST_ID_HEADER]: 'req-4' } }];
    const mixed: { headers: Record<string, string> }[] = [{ headers: { [REQUEST_ID_HEADER]: 'req-5' } }, { headers: {} }];
    await bus.publish(Topics.deviceEvents, [{ value: event('a') }, { value: event('b'), headers: { [REQUEST_ID_HEADER]: 'own' } }], { causedBy: same });
    await bus.publish(Topics.deviceEvents, [{ value: event('c') }], { causedBy: mixed });
    await bus.stop();
    expect(seen).toEqual(['req-4', 'own', undefined]);
  });
});

describe('bus observer', () => {
  it('is told of publishes, handled batches, retries and dead letters', async () => {
    const calls: string[] = [];
    const observer: BusObserver = {
      published: (topic, n) => calls.push(`published ${topic} ${n}`),
      publishFailed: (topic, n) => calls.push(`publishFailed ${topic} ${n}`),
      handled: (_topic, group, n, seconds, outcome) => calls.push(`handled ${group} ${n} ${outcome} ${seconds >= 0}`),
      retried: (_topic, group) => calls.push(`retried ${group}`),
      deadLettered: (_topic, group, n) => calls.push(`deadLettered ${group} ${n}`),
      lag: () => undefined,
    };
    const bus = new InProcessMessageBus({ observer, retryBaseMs: 1 });
    let failOnce = true;
    await bus.subscribe({
      topic: Topics.deviceEvents,
      group: 'g',
      handler: async () => {
        if (failOnce) {
          failOnce = false;
          throw new Error('transient');
        }
      },
    });
    await bus.start();
    await bus.publish(Topics.deviceEvents, [{ value: event('a') }]);
    await bus.publish(Topics.deviceEvents, [{ value: { kind: 'nonsense' } as unknown as DeviceEventV1, key: 'k' }], { unchecked: true });
    expect(calls).toEqual([
      `published ${Topics.deviceEvents.name} 1`,
      'retried g',
      'handled g 1 ok true',
      `published ${Topics.deviceEvents.name} 1`,
      'deadLettered g 1',
    ]);
  });
});
