import Redis from 'ioredis';
import { requireRedis } from '@borealis/testing';
import { randomToken } from '@borealis/util';
import { RedisPresenceStore, RedisRateLimiter, RedisReplayGuard } from './redis';

describe('Redis adapters against the real Redis', () => {
  let redis: Redis;
  const run = randomToken(6);

  beforeAll(() => {
    redis = new Redis(requireRedis(), { maxRetriesPerRequest: 1 });
  });
  afterAll(() => redis.quit());

  it('presence: set, lookup in one round trip, and owner-checked removal', async () => {
    const presence = new RedisPresenceStore(redis);
    await presence.set(`a-${run}`, 'transport-0', 30);
    await presence.set(`b-${run}`, 'transport-1', 30);
    const found = await presence.lookup([`a-${run}`, `b-${run}`, `missing-${run}`]);
    expect(Object.fromEntries(found)).toEqual({ [`a-${run}`]: 'transport-0', [`b-${run}`]: 'transport-1' });

    // The device moved to transport-1; a late disconnect on transport-0 must not erase the route.
    await presence.set(`a-${run}`, 'transport-1', 30);
    expect(await presence.removeIfOwner(`a-${run}`, 'transport-0')).toBe(false);
    expect((await presence.lookup([`a-${run}`])).get(`a-${run}`)).toBe('transport-1');
    expect(await presence.removeIfOwner(`a-${run}`, 'transport-1')).toBe(true);
    expect((await presence.lookup([`a-${run}`])).size).toBe(0);
  });

  it('presence refresh: renews its own entry, restores an expired one, leaves another instance\'s alone', async () => {
    const presence = new RedisPresenceStore(redis);
    const key = `presence-refresh-${run}`;
    expect(await presence.refresh(key, 'transport-0', 30)).toBe('restored');
    expect(await presence.refresh(key, 'transport-0', 30)).toBe('kept');
    expect(await redis.ttl(`borealis:presence:${key}`)).toBeGreaterThan(25);
    await presence.set(key, 'transport-1', 30);
    expect(await presence.refresh(key, 'transport-0', 30)).toBe('taken');
    expect((await presence.lookup([key])).get(key)).toBe('transport-1');
    await redis.del(`borealis:presence:${key}`);
    expect(await presence.refresh(key, 'transport-0', 30)).toBe('restored');
    expect((await presence.lookup([key])).get(key)).toBe('transport-0');
  });

  it('rate limiter: a bucket of N admits exactly N, then says when to retry, then refills', async () => {
    let now = 1_000_000;
    const limiter = new RedisRateLimiter(redis, () => now);
    const key = `project:${run}`;
    const decisions = [];
    for (let i = 0; i < 7; i++) decisions.push(await limiter.take(key, 5, 1));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(5);
    expect(decisions[5]).toMatchObject({ allowed: false, remaining: 0, retryAfterSeconds: 1, limit: 5 });
    now += 2000;
    expect((await limiter.take(key, 5, 1)).allowed).toBe(true);
    expect((await limiter.take(key, 5, 1)).allowed).toBe(true);
    expect((await limiter.take(key, 5, 1)).allowed).toBe(false);
  });

  it('rate limiter: takes asked for together are decided in one call, in order, exactly as one by one', async () => {
    const limiter = new RedisRateLimiter(redis, () => 2_000_000);
    const sent = jest.spyOn(redis, 'sendCommand');
    const evalsha = () => sent.mock.calls.filter(([command]) => command.name === 'evalsha');
    try {
      const a = `a-${run}`;
      const b = `b-${run}`;
      // Interleaved takes on two buckets in one event-loop turn: 5 on a bucket of 3, 2 (cost 2) on a bucket of 3.
      const decisions = await Promise.all([limiter.take(a, 3, 1), limiter.take(b, 3, 1, 2), limiter.take(a, 3, 1), limiter.take(a, 3, 1), limiter.take(b, 3, 1, 2), limiter.take(a, 3, 1), limiter.take(a, 3, 1)]);
      expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, false, false, false]);
      expect(decisions.map((d) => d.remaining)).toEqual([2, 1, 1, 0, 1, 0, 0]);
      expect(decisions[4]).toMatchObject({ retryAfterSeconds: 1, limit: 3 });
      // The bucket state is stored: the next take, in a later turn, is refused too.
      expect((await limiter.take(a, 3, 1)).allowed).toBe(false);
      expect(evalsha()).toHaveLength(2);
    } finally {
      sent.mockRestore();
    }
  });

  it('rate limiter: chains ride in the same call; a take after a refusal is not made', async () => {
    const limiter = new RedisRateLimiter(redis, () => 3_000_000);
    const sent = jest.spyOn(redis, 'sendCommand');
    const evalsha = () => sent.mock.calls.filter(([command]) => command.name === 'evalsha');
    try {
      const ip = `ip-${run}`;
      const project = `chain-project-${run}`;
      const chain = () => [
        { key: ip, capacity: 2, refillPerSecond: 1 },
        { key: project, capacity: 10, refillPerSecond: 1 },
      ];
      // One turn: three chains and a single take on the project bucket, in that order.
      const [first, second, third, single] = await Promise.all([limiter.takeChain(chain()), limiter.takeChain(chain()), limiter.takeChain(chain()), limiter.take(project, 10, 1)]);
      expect(evalsha()).toHaveLength(1);
      expect(first!.map((d) => [d.allowed, d.remaining])).toEqual([[true, 1], [true, 9]]);
      expect(second!.map((d) => [d.allowed, d.remaining])).toEqual([[true, 0], [true, 8]]);
      // The IP bucket is empty: the project bucket is not touched for the third.
      expect(third!.map((d) => [d.allowed, d.remaining])).toEqual([[false, 0]]);
      expect(third![0]).toMatchObject({ retryAfterSeconds: 1, limit: 2 });
      expect(single).toMatchObject({ allowed: true, remaining: 7 });
      expect(await limiter.takeChain([])).toEqual([]);
    } finally {
      sent.mockRestore();
    }
  });

  it('replay guard: the first use wins, a replay is refused', async () => {
    const guard = new RedisReplayGuard(redis);
    expect(await guard.firstUse(`jti-${run}`, 60)).toBe(true);
    expect(await guard.firstUse(`jti-${run}`, 60)).toBe(false);
    expect(await guard.firstUse(`jti2-${run}`, 60)).toBe(true);
  });
});

describe('Redis scripts after SCRIPT FLUSH', () => {
  it('load themselves again when Redis forgot them', async () => {
    const redis = new Redis(requireRedis(), { maxRetriesPerRequest: 1 });
    try {
      const limiter = new RedisRateLimiter(redis);
      const key = `flush-${randomToken(6)}`;
      expect((await limiter.take(key, 2, 1)).allowed).toBe(true);
      await redis.script('FLUSH');
      expect((await limiter.take(key, 2, 1)).allowed).toBe(true);
      expect((await limiter.take(key, 2, 1)).allowed).toBe(false);
    } finally {
      await redis.quit();
    }
  });
});
