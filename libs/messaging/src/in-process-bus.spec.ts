import { DomainError, ErrorCode, Topics, type DeviceEventV1 } from '@borealis/contracts';
import { sleep } from '@borealis/util';
import { REQUEST_ID_HEADER } from './context';
import { InProcessMessageBus } from './in-process-bus';
import type { BusMessage } from './message-bus';

const event = (deviceId: string, atMs = 1): DeviceEventV1 => ({ kind: 'connected', deviceId, instanceId: 'i-1', atMs });

describe('InProcessMessageBus', () => {
  it('delivers every record to every group and resolves publish after the handlers ran', async () => {
    const bus = new InProcessMessageBus();
    const a: string[] = [];
    const b: string[] = [];
    await bus.subscribe({ topic: Topics.deviceEvents, group: 'a', handler: async (ms) => void a.push(...ms.map((m) => m.value.deviceId)) });
    await bus.subscribe({ topic: Topics.deviceEvents, group: 'b', handler: async (ms) => void b.push(...ms.map((m) => m.value.deviceId)) });
    await bus.start();
    await bus.publish(Topics.deviceEvents, [{ value: event('d1') }, { value: event('d2') }]);
    expect(a.sort()).toEqual(['d1', 'd2']);
    expect(b.sort()).toEqual(['d1', 'd2']);
  });

  it('keeps per-key order even when an earlier handler is slow', async () => {
    const bus = new InProcessMessageBus();
    const seen: number[] = [];
    await bus.subscribe({
      topic: Topics.deviceEvents,
      group: 'g',
      handler: async (ms) => {
        for (const m of ms) {
          if (m.value.atMs === 1) await new Promise((r) => setTimeout(r, 30));
          seen.push(m.value.atMs);
        }
      },
    });
    await bus.start();
    const first = bus.publish(Topics.deviceEvents, [{ value: event('same', 1) }]);
    await new Promise((r) => setTimeout(r, 5));
    await Promise.all([first, bus.publish(Topics.deviceEvents, [{ value: event('same', 2) }])]);
    expect(seen).toEqual([1, 2]);
  });

  it('hands the records published while a batch runs to the next handler call, and resolves each publish after its own batch', async () => {
    const bus = new InProcessMessageBus();
    const batches: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await bus.subscribe({
      topic: Topics.deviceEvents,
      group: 'g',
      handler: async (ms) => {
        batches.push(ms.map((m) => m.value.atMs));
        if (ms[0]!.value.atMs === 1) await gate;
      },
    });
    await bus.start();
    let firstDone = false;
    const first = bus.publish(Topics.deviceEvents, [{ value: event('same', 1) }]).then(() => (firstDone = true));
    await new Promise((r) => setTimeout(r, 5));
    const later = [2, 3, 4].map((n) => bus.publish(Topics.deviceEvents, [{ value: event('same', n) }]));
    await new Promise((r) => setTimeout(r, 5));
    expect(firstDone).toBe(false);
    expect(batches).toEqual([[1]]);
    release();
    await Promise.all([first, ...later]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it('lets a batch wait batchWaitMs for more records when its subscription asks to, and at once otherwise', async () => {
    const bus = new InProcessMessageBus();
    const waiting: number[] = [];
    const eager: number[] = [];
    await bus.subscribe({ topic: Topics.deviceEvents, group: 'waiting', batchWaitMs: 200, handler: async (ms) => void waiting.push(ms.length) });
    await bus.subscribe({ topic: Topics.deviceEvents, group: 'eager', handler: async (ms) => void eager.push(ms.length) });
    await bus.start();
    const publishes: Promise<void>[] = [];
    for (let i = 0; i < 3; i++) {
      publishes.push(bus.publish(Topics.deviceEvents, [{ value: event(`d${i}`) }]));
      await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(publishes);
    expect(waiting).toEqual([3]);
    expect(eager).toEqual([1, 1, 1]);
  });

  it('with several partitions, a slow handler holds up only its own partition', async () => {
    const bus = new InProcessMessageBus({ partitions: 8 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await bus.subscribe({
      topic: Topics.deviceEvents,
      group: 'g',
      handler: async (ms) => {
        if (ms.some((m) => m.value.deviceId === 'a')) await gate;
      },
    });
    await bus.start();
    let slowDone = false;
    // Keys 'a' and 'b' hash to different partitions of 8.
    const slow = bus.publish(Topics.deviceEvents, [{ value: event('a') }]).then(() => (slowDone = true));
    await bus.publish(Topics.deviceEvents, [{ value: event('b') }]);
    expect(slowDone).toBe(false);
    release();
    await slow;
  });

  it('rejects only the publishes whose batch gave up', async () => {
    const bus = new InProcessMessageBus({ retryBaseMs: 1, maxAttempts: 2 });
    await bus.subscribe({
      topic: Topics.deviceEvents,
      group: 'g',
      handler: async (ms) => {
        if (ms.some((m) => m.value.atMs === 1)) throw new Error('down');
      },
    });
    await bus.start();
    await expect(bus.publish(Topics.deviceEvents, [{ value: event('same', 1) }])).rejects.toThrow('down');
    await expect(bus.publish(Topics.deviceEvents, [{ value: event('same', 2) }])).resolves.toBeUndefined();
  });

  it('retries a failing handler, then succeeds', async () => {
    const bus = new InProcessMessageBus({ retryBaseMs: 1 });
    let calls = 0;
    await bus.subscribe({
      topic: Topics.deviceEvents,
      group: 'g',
      handler: async () => {
        if (++calls < 3) throw new Error('database briefly unavailable');
      },
    });
    await bus.start();
    await bus.publish(Topics.deviceEvents, [{ value: event('d') }]);
    expect(calls).toBe(3);
  });

  it('rejects publish when the handler keeps failing, so the caller does not acknowledge', async () => {
    const bus = new InProcessMessageBus({ retryBaseMs: 1, maxAttempts: 3 });
    await bus.subscribe({ topic: Topics.deviceEvents, group: 'g', handler: async () => Promise.reject(new Error('down')) });
    await bus.start();
    await expect(bus.publish(Topics.deviceEvents, [{ value: event('d') }])).rejects.toThrow('down');
  });

  it('dead-letters bad input instead of retrying it, and keeps serving', async () => {
    const bus = new InProcessMessageBus({ retryBaseMs: 1 });
    const handled: BusMessage<DeviceEventV1>[] = [];
    await bus.subscribe({
      topic: Topics.deviceEvents,
      group: 'g',
      handler: async (ms) => {
        for (const m of ms) {
          if (m.value.deviceId === 'bad') throw new DomainError(ErrorCode.InvalidArgument, 'unknown device');
          handled.push(m);
        }
      },
    });
    await bus.start();
    await bus.publish(Topics.deviceEvents, [{ value: event('bad') }, { value: event('good') }]);
    // A value the compiler did not check (Nest's emit) is checked against the schema: an invalid one never reaches the handler.
    await bus.publish(Topics.deviceEvents, [{ value: { kind: 'exploded' } as unknown as DeviceEventV1, key: 'x' }], { unchecked: true });
    expect(handled.map((m) => m.value.deviceId)).toEqual(['good']);
    expect(bus.deadLetters.map((d) => d.reason)).toEqual([expect.stringContaining('unknown device'), expect.stringContaining('does not match borealis.transport.device.event.v1')]);
    expect(bus.deadLetters[1]!.value).toBe('{"kind":"exploded"}');
  });

  it('hands every group the publisher\'s value itself, frozen, so that no handler can change what another sees', async () => {
    const bus = new InProcessMessageBus({ retryBaseMs: 1, maxAttempts: 1 });
    const seen: DeviceEventV1[] = [];
    const writes: string[] = [];
    for (const group of ['a', 'b']) {
      await bus.subscribe({
        topic: Topics.deviceEvents,
        group,
        handler: async (ms) => {
          for (const m of ms) {
            seen.push(m.value);
            try {
              (m.value as { deviceId: string }).deviceId = `changed by ${group}`;
            } catch (err) {
              writes.push(`${group}: ${(err as Error).name}`);
            }
          }
        },
      });
    }
    await bus.start();
    const value = { ...event('d'), nested: { list: [{ x: 1 }] } } as unknown as DeviceEventV1;
    await bus.publish(Topics.deviceEvents, [{ value }]);
    expect(seen).toEqual([value, value]);
    expect(seen[0]).toBe(value);
    expect(value.deviceId).toBe('d');
    expect(writes).toEqual(['a: TypeError', 'b: TypeError']);
    expect(Object.isFrozen((value as unknown as { nested: { list: object[] } }).nested.list[0])).toBe(true);
  });
});

describe('InProcessMessageBus publishing from handlers', () => {
  /** deviceEvents → deliveryReceipts → deviceEvents, same key, so the same partitions. */
  async function cycle(bus: InProcessMessageBus, nameBatch: boolean, done: string[], requestIds: (string | undefined)[] = []): Promise<void> {
    await bus.subscribe({
      topic: Topics.deviceEvents,
      group: 'transport',
      handler: async (ms) => {
        for (const m of ms) {
          requestIds.push(m.headers[REQUEST_ID_HEADER]);
          const receipt = { status: 'sent' as const, deviceId: m.value.deviceId, instanceId: 'i', messageIds: [String(m.value.atMs)], atMs: m.value.atMs };
          if (m.value.atMs < 3) await bus.publish(Topics.deliveryReceipts, [{ value: receipt }], nameBatch ? { causedBy: ms } : undefined);
          done.push(`event ${m.value.atMs}`);
        }
      },
    });
    await bus.subscribe({
      topic: Topics.deliveryReceipts,
      group: 'core',
      handler: async (ms) => {
        for (const m of ms) {
          requestIds.push(m.headers[REQUEST_ID_HEADER]);
          await bus.publish(Topics.deviceEvents, [{ value: event(m.value.deviceId, m.value.atMs + 1) }], nameBatch ? { causedBy: ms } : undefined);
          done.push(`receipt ${m.value.atMs}`);
        }
      },
    });
    await bus.start();
  }

  it('does not deadlock when handlers publish around a cycle of topics, naming their batch', async () => {
    const bus = new InProcessMessageBus();
    const done: string[] = [];
    const requestIds: (string | undefined)[] = [];
    await cycle(bus, true, done, requestIds);
    await bus.publish(Topics.deviceEvents, [{ value: event('d', 1), headers: { [REQUEST_ID_HEADER]: 'req-1' } }]);
    await bus.stop();
    expect(done.sort()).toEqual(['event 1', 'event 2', 'event 3', 'receipt 1', 'receipt 2']);
    // Each hop's records inherit the request id of the batch that caused them.
    expect(requestIds).toEqual(['req-1', 'req-1', 'req-1', 'req-1', 'req-1']);
  });

  it('would deadlock if a handler waited for its records (the reason handlers name their batch)', async () => {
    const bus = new InProcessMessageBus();
    const done: string[] = [];
    await cycle(bus, false, done);
    const outcome = await Promise.race([bus.publish(Topics.deviceEvents, [{ value: event('d', 1) }]).then(() => 'handled'), sleep(300).then(() => 'stuck')]);
    expect(outcome).toBe('stuck');
    expect(done).toEqual([]);
  });

  it('keeps taking a handler\'s records while stopping, and refuses the others', async () => {
    const bus = new InProcessMessageBus();
    const done: string[] = [];
    await cycle(bus, true, done);
    await bus.publish(Topics.deviceEvents, [{ value: event('d', 1) }]);
    const stopped = bus.stop();
    await expect(bus.publish(Topics.deviceEvents, [{ value: event('e', 1) }])).rejects.toThrow('message bus is stopping');
    await stopped;
    expect(done.sort()).toEqual(['event 1', 'event 2', 'event 3', 'receipt 1', 'receipt 2']);
  });
});
