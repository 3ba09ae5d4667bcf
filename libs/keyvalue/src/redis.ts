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

// Token buckets, any number of takes in one round trip and one script run. KEYS: the distinct
// bucket hashes; ARGV[1] now (ms, the caller's clock, so that instances agree only through Redis
// state; a bucket last written by an instance whose clock is ahead is not refilled twice), then four per take in arrival order: key index, capacity, refill per second, cost. Each
// bucket is read once, the takes are decided one after the other exactly as separate calls would
// decide them, and each bucket is written once. Returns allowed (0/1) and the tokens left, per take.
const TAKE_TOKENS = `
local now = tonumber(ARGV[1])
local tokens = {}
local ats = {}
local expiry = {}
local out = {}
for i = 2, #ARGV, 4 do
  local k = tonumber(ARGV[i])
  local capacity = tonumber(ARGV[i + 1])
  local rate = tonumber(ARGV[i + 2])
  local cost = tonumber(ARGV[i + 3])
  local t = tokens[k]
  if t == nil then
    local state = redis.call('HMGET', KEYS[k], 't', 'at')
    t = tonumber(state[1])
    local at = tonumber(state[2])
    if t == nil then
      t = capacity
      at = now
    elseif now > at then
      t = t + (now - at) / 1000 * rate
      at = now
    end
    ats[k] = at
  end
  t = math.min(capacity, t)
  local allowed = 0
  if t >= cost then
    t = t - cost
    allowed = 1
  end
  tokens[k] = t
  expiry[k] = math.ceil(capacity / rate * 1000) + 1000
  out[#out + 1] = allowed
  out[#out + 1] = tostring(t)
end
for k, t in pairs(tokens) do
  redis.call('HSET', KEYS[k], 't', tostring(t), 'at', tostring(ats[k]))
  redis.call('PEXPIRE', KEYS[k], expiry[k])
end
return out`;

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

interface PendingTake {
  key: string;
  capacity: number;
  refillPerSecond: number;
  cost: number;
  resolve: (decision: RateLimitDecision) => void;
  reject: (err: unknown) => void;
}

/** Takes per script call at most (the script's arguments grow with them). */
const MAX_TAKES_PER_CALL = 1000;

/**
 * Token buckets in Redis. The takes asked for in one event-loop turn (under load, those of every
 * request whose bytes or Redis answers arrived together) leave together as ONE script call that
 * decides them in arrival order: the same decisions as one call per take, because the script runs
 * atomically, but one command for ioredis to encode and parse and for Redis to run instead of one
 * per take. An idle caller waits for the end of the current turn only. A failed call fails every
 * take in it. One script call touches several bucket keys: they must live on one Redis (the
 * platform's single REDIS_URL; a Redis Cluster would need the keys in one hash slot).
 */
export class RedisRateLimiter extends RateLimiter {
  private pending: PendingTake[] = [];
  private scheduled = false;

  constructor(
    private readonly redis: Redis,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  take(key: string, capacity: number, refillPerSecond: number, cost = 1): Promise<RateLimitDecision> {
    return new Promise<RateLimitDecision>((resolve, reject) => {
      this.pending.push({ key, capacity, refillPerSecond, cost, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.pending.length > 0) {
      const batch = this.pending.length <= MAX_TAKES_PER_CALL ? this.pending : this.pending.slice(0, MAX_TAKES_PER_CALL);
      this.pending = batch === this.pending ? [] : this.pending.slice(MAX_TAKES_PER_CALL);
      this.send(batch);
    }
  }

  private send(batch: PendingTake[]): void {
    const keys: string[] = [];
    const indexOf = new Map<string, number>();
    const args: (string | number)[] = [this.now()];
    for (const take of batch) {
      let index = indexOf.get(take.key);
      if (index === undefined) {
        index = keys.push(`borealis:ratelimit:${take.key}`);
        indexOf.set(take.key, index);
      }
      args.push(index, take.capacity, take.refillPerSecond, take.cost);
    }
    takeTokens.run(this.redis, keys, args).then(
      (reply) => {
        const out = reply as (number | string)[];
        batch.forEach((take, i) => take.resolve(decide(take, out[2 * i] as number, Number(out[2 * i + 1]))));
      },
      (err: unknown) => batch.forEach((take) => take.reject(err)),
    );
  }
}

function decide({ capacity, refillPerSecond, cost }: PendingTake, allowed: number, tokens: number): RateLimitDecision {
  return {
    allowed: allowed === 1,
    remaining: Math.floor(tokens),
    retryAfterSeconds: allowed === 1 ? 0 : Math.max(1, Math.ceil((cost - tokens) / refillPerSecond)),
    limit: capacity,
  };
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
