import type { DeliveryReceiptV1 } from '@borealis/contracts';
import type { PublishRecord } from '@borealis/messaging';
import { FixedClock } from '@borealis/util';
import { SentReceipts, type DeliveryOutcome } from './sent-receipts';

const sent = (deviceId: string, messageId: string): DeliveryOutcome => ({ status: 'sent', deviceId, messageId });

describe('SentReceipts', () => {
  let clock: FixedClock;
  let published: DeliveryReceiptV1[];
  const publish = (records: PublishRecord<DeliveryReceiptV1>[]): Promise<void> => {
    published.push(...records.map((r) => r.value));
    return Promise.resolve();
  };
  /** Moves the clock and the timers together. */
  const advance = async (ms: number): Promise<void> => {
    clock.advance(ms);
    await jest.advanceTimersByTimeAsync(ms);
  };

  beforeEach(() => {
    jest.useFakeTimers();
    clock = new FixedClock(1_000);
    published = [];
  });
  afterEach(() => jest.useRealTimers());

  it('publishes nothing for a delivery acknowledged within the hold', async () => {
    const receipts = new SentReceipts('t-1', 250, clock, publish);
    await receipts.hold(1_000, [sent('a', 'm1'), sent('b', 'm2')]);
    receipts.acknowledged('a', ['m1']);
    await advance(249);
    expect(published).toEqual([]);
    await advance(1);
    expect(published).toEqual([{ status: 'sent', deviceId: 'b', instanceId: 't-1', messageIds: ['m2'], atMs: 1_000 }]);
    expect(receipts.size).toBe(0);
  });

  it('reports each batch when its own hold ends, with the time it was written', async () => {
    const receipts = new SentReceipts('t-1', 250, clock, publish);
    await receipts.hold(1_000, [sent('a', 'm1')]);
    await advance(100);
    await receipts.hold(1_100, [sent('a', 'm2'), sent('a', 'm3')]);
    await advance(150);
    expect(published).toEqual([{ status: 'sent', deviceId: 'a', instanceId: 't-1', messageIds: ['m1'], atMs: 1_000 }]);
    receipts.acknowledged('a', ['m3']);
    await advance(100);
    expect(published.at(-1)).toEqual({ status: 'sent', deviceId: 'a', instanceId: 't-1', messageIds: ['m2'], atMs: 1_100 });
    expect(published).toHaveLength(2);
  });

  it('holds a redelivered pair once, and an Ack of another device does not count', async () => {
    const receipts = new SentReceipts('t-1', 250, clock, publish);
    await receipts.hold(1_000, [sent('a', 'm1'), sent('a', 'm1')]);
    await receipts.hold(1_010, [sent('a', 'm1')]);
    receipts.acknowledged('b', ['m1']);
    await advance(300);
    expect(published).toEqual([{ status: 'sent', deviceId: 'a', instanceId: 't-1', messageIds: ['m1'], atMs: 1_000 }]);
  });

  it('publishes at once with a hold of 0, and everything held on flush', async () => {
    const direct = new SentReceipts('t-1', 0, clock, publish);
    await direct.hold(1_000, [sent('a', 'm1')]);
    expect(published).toHaveLength(1);
    expect(direct.size).toBe(0);

    const held = new SentReceipts('t-1', 250, clock, publish);
    await held.hold(1_000, [sent('a', 'm2'), sent('b', 'm3')]);
    held.acknowledged('b', ['m3']);
    await held.flush();
    expect(published.at(-1)).toEqual({ status: 'sent', deviceId: 'a', instanceId: 't-1', messageIds: ['m2'], atMs: 1_000 });
    expect(held.size).toBe(0);
    await advance(1_000);
    expect(published).toHaveLength(2);
  });

  it('publishes the oldest batches at once when more than its cap is held', async () => {
    const receipts = new SentReceipts('t-1', 250, clock, publish, 2);
    await receipts.hold(1_000, [sent('a', 'm1')]);
    await receipts.hold(1_001, [sent('a', 'm2')]);
    expect(published).toEqual([]);
    await receipts.hold(1_002, [sent('a', 'm3')]);
    expect(published).toEqual([{ status: 'sent', deviceId: 'a', instanceId: 't-1', messageIds: ['m1'], atMs: 1_000 }]);
    expect(receipts.size).toBe(2);
  });
});
