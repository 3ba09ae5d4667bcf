import { createHash } from 'node:crypto';
import type Redis from 'ioredis';
import { PresenceStore, RateLimiter, ReplayGuard, type RateLimitDecision } from './ports';

const PRESENCE_PREFIX = 'borealis:presence:';

// Deletes the presence entry only while it still names this instance (the owner check).
const REMOVE_IF_OWNER = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

// Token bucket in one round trip. KEYS[1] bucket hash; ARGV: capacity, refill per second, cost,
// now (ms). Uses the caller's clock so that all instances agree only through Redis state.
const TAKE_TOKENS = `
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil then
  tokens = capacity
  at = now
end
if now > at then
  tokens = math.min(capacity, tokens + (now - at) / 1000 * rate)
  at = now
end
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return {allowed, tostring(tokens)}`;

/**
 * A Lua script sent by its SHA1 (EVALSHA): the hot path does not ship and hash the whole script
 * on every call. After a Redis restart or SCRIPT FLUSH the first call loads it again.
 */
class LuaScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

const removeIfOwner = new LuaScript(REMOVE_IF_OWNER);
const takeTokens = new LuaScript(TAKE_TOKENS);

export class RedisPresenceStore extends PresenceStore {
  constructor(private readonly redis: Redis) {
    super();
  }

  async set(deviceId: string, instanceId: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(PRESENCE_PREFIX + deviceId, instanceId, 'EX', ttlSeconds);
  }

  async lookup(deviceIds: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (deviceIds.length === 0) return out;
    const values = await this.redis.mget(deviceIds.map((id) => PRESENCE_PREFIX + id));
    values.forEach((instanceId, i) => {
      if (instanceId) out.set(deviceIds[i]!, instanceId);
    });
    return out;
  }

  async removeIfOwner(deviceId: string, instanceId: string): Promise<boolean> {
    const deleted = (await removeIfOwner.run(this.redis, [PRESENCE_PREFIX + deviceId], [instanceId])) as number;
    return deleted === 1;
  }
}

export class RedisRateLimiter extends RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  async take(key: string, capacity: number, refillPerSecond: number, cost = 1): Promise<RateLimitDecision> {
    const [allowed, tokensText] = (await takeTokens.run(this.redis, [`borealis:ratelimit:${key}`], [capacity, refillPerSecond, cost, this.now()])) as [number, string];
    const tokens = Number(tokensText);
    return {
      allowed: allowed === 1,
      remaining: Math.floor(tokens),
      retryAfterSeconds: allowed === 1 ? 0 : Math.max(1, Math.ceil((cost - tokens) / refillPerSecond)),
      limit: capacity,
    };
  }
}

export class RedisReplayGuard extends ReplayGuard {
  constructor(private readonly redis: Redis) {
    super();
  }

  async firstUse(id: string, ttlSeconds: number): Promise<boolean> {
    const result = await this.redis.set(`borealis:once:${id}`, '1', 'EX', Math.max(1, Math.ceil(ttlSeconds)), 'NX');
    return result === 'OK';
  }
}
