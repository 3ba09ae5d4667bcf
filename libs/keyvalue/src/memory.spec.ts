import { FixedClock } from '@borealis/util';
import { MemoryRateLimiter } from './memory';

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
