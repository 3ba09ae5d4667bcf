import { FixedClock } from '@borealis/util';
import { MemoryPresenceStore, MemoryRateLimiter } from './memory';

describe('MemoryRateLimiter.takeChain (the default chain of takes)', () => {
  it('takes in order and stops at the first refusal, leaving the buckets after it untouched', async () => {
    const limiter = new MemoryRateLimiter(new FixedClock(1_000));
    const chain = [
      { key: 'ip', capacity: 1, refillPerSecond: 1 },
      { key: 'project', capacity: 5, refillPerSecond: 1 },
    ];
    expect((await limiter.takeChain(chain)).map((d) => [d.allowed, d.remaining])).toEqual([
      [true, 0],
      [true, 4],
    ]);
    expect((await limiter.takeChain(chain)).map((d) => [d.allowed, d.remaining])).toEqual([[false, 0]]);
    expect(await limiter.take('project', 5, 1)).toMatchObject({ allowed: true, remaining: 3 });
  });
});

describe('MemoryPresenceStore.refresh', () => {
  it('renews its own entry, restores an expired one, and leaves another instance\'s alone', async () => {
    const clock = new FixedClock(1_000);
    const presence = new MemoryPresenceStore(clock);
    expect(await presence.refresh('d', 't-0', 10)).toBe('restored');
    clock.advance(9_000);
    expect(await presence.refresh('d', 't-0', 10)).toBe('kept');
    clock.advance(9_000);
    expect(Object.fromEntries(await presence.lookup(['d']))).toEqual({ d: 't-0' });
    clock.advance(10_000);
    expect(await presence.refresh('d', 't-0', 10)).toBe('restored');
    await presence.set('d', 't-1', 10);
    expect(await presence.refresh('d', 't-0', 10)).toBe('taken');
    expect(Object.fromEntries(await presence.lookup(['d']))).toEqual({ d: 't-1' });
  });
});
