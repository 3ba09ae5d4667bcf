import { FixedDelayTimer, WriteQueue, type QueuedNotification } from './write-queue';

const item = (messageId: string, bytes = 10): QueuedNotification => ({ messageId, expiresAtMs: Infinity, frame: Buffer.alloc(bytes, 0x42) });
const ids = (taken: QueuedNotification[]) => taken.map((n) => n.messageId);

describe('WriteQueue', () => {
  it('gives high pushes ahead of normal ones, first in first out within each', () => {
    const queue = new WriteQueue();
    queue.add(item('n1'), false);
    queue.add(item('n2'), false);
    queue.add(item('h1'), true);
    queue.add(item('n3'), false);
    queue.add(item('h2'), true);
    expect(queue.size).toBe(5);
    expect(ids(queue.take(1000, true))).toEqual(['h1', 'h2', 'n1', 'n2', 'n3']);
    expect(queue.isEmpty).toBe(true);
    expect(queue.bytes).toBe(0);
  });

  it('takes at most maxBytes at a time, but always one, and counts the bytes left', () => {
    const queue = new WriteQueue();
    queue.add(item('n1', 30), false);
    queue.add(item('n2', 30), false);
    queue.add(item('h1', 500), true);
    queue.add(item('n3', 30), false);
    expect(queue.bytes).toBe(590);
    // The first is taken even when larger than the limit; the next ones only while they fit.
    expect(ids(queue.take(100, true))).toEqual(['h1']);
    expect(queue.bytes).toBe(90);
    expect(ids(queue.take(60, true))).toEqual(['n1', 'n2']);
    expect(queue.bytes).toBe(30);
    expect(ids(queue.take(60, true))).toEqual(['n3']);
    expect(queue.bytes).toBe(0);
  });

  it('leaves the normal pushes when told to (held to coalesce), still giving the high ones', () => {
    const queue = new WriteQueue();
    queue.add(item('n1'), false);
    queue.add(item('h1'), true);
    expect(ids(queue.take(1000, false))).toEqual(['h1']);
    expect(queue.take(1000, false)).toEqual([]);
    expect(queue.size).toBe(1);
    expect(ids(queue.take(1000, true))).toEqual(['n1']);
  });

  it('a high push queued behind a long normal backlog is the next one out', () => {
    const queue = new WriteQueue();
    for (let i = 0; i < 1000; i++) queue.add(item(`n${i}`), false);
    expect(ids(queue.take(25, true))).toEqual(['n0', 'n1']);
    queue.add(item('urgent'), true);
    expect(ids(queue.take(25, true))).toEqual(['urgent', 'n2']);
    expect(queue.size).toBe(997);
    expect(queue.bytes).toBe(9970);
  });

  it('remove takes cancelled messages out of either priority and counts their bytes', () => {
    const queue = new WriteQueue();
    queue.add(item('n1', 10), false);
    queue.add(item('h1', 20), true);
    queue.add(item('n2', 30), false);
    expect(queue.remove(['h1', 'n2', 'unknown'])).toBe(2);
    expect(queue.bytes).toBe(10);
    expect(ids(queue.take(1000, true))).toEqual(['n1']);
  });

  it('clear empties it and says how many it held', () => {
    const queue = new WriteQueue();
    queue.add(item('n1'), false);
    queue.add(item('h1'), true);
    expect(queue.clear()).toBe(2);
    expect(queue.isEmpty).toBe(true);
    expect(queue.bytes).toBe(0);
  });
});

describe('FixedDelayTimer', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('runs each item once, its delay after it was added, in order, with one timer', () => {
    const ran: string[] = [];
    const timer = new FixedDelayTimer<string>(50, () => Date.now(), (x) => ran.push(x));
    timer.add('a');
    jest.advanceTimersByTime(20);
    timer.add('b');
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(29);
    expect(ran).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(ran).toEqual(['a']);
    jest.advanceTimersByTime(19);
    expect(ran).toEqual(['a']);
    jest.advanceTimersByTime(1);
    expect(ran).toEqual(['a', 'b']);
    expect(timer.pending).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('an item added while running is due a full delay later, and stop drops what is pending', () => {
    const ran: number[] = [];
    const timer = new FixedDelayTimer<number>(10, () => Date.now(), (n) => {
      ran.push(n);
      if (n < 3) timer.add(n + 1);
    });
    timer.add(1);
    jest.advanceTimersByTime(10);
    expect(ran).toEqual([1]);
    jest.advanceTimersByTime(10);
    expect(ran).toEqual([1, 2]);
    timer.stop();
    jest.advanceTimersByTime(100);
    expect(ran).toEqual([1, 2]);
    expect(timer.pending).toBe(0);
  });
});
