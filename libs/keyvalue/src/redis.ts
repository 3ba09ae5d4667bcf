import { createHash } from 'node:crypto';
import { Command, type Redis } from 'ioredis';
import { PresenceStore, RateLimiter, ReplayGuard, type BucketTake, type PresenceRefresh, type RateLimitDecision } from './ports';

const PRESENCE_PREFIX = 'borealis:presence:';

// Deletes the presence entry only while it still names this instance (the owner check).
const REMOVE_IF_OWNER = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

// Renews a presence entry that is ours or absent; another instance's is left alone. ARGV: the
// instance id, the TTL in seconds. Returns 1 kept, 0 restored, 2 taken.
const REFRESH_PRESENCE = `
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then return 2 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if owner then return 1 end
return 0`;

// Token buckets, any number of takes in one round trip and one script run. KEYS: the distinct
// bucket hashes; ARGV[1] now (ms, the caller's clock, so that instances agree only through Redis
// state; a bucket last written by an instance whose clock is ahead is not refilled twice), then
// five per take in arrival order: key index, capacity, refill per second, cost, and whether the
// take is chained (1: made only if the take before it in ARGV was allowed; a chain's first take
// is 0). Each bucket is read once, the takes are decided one after the other exactly as separate
// calls would decide them, and each bucket is written once. Returns allowed (1, 0, or -1 for a
// chained take not made) and the tokens left, per take.
const TAKE_TOKENS = `
local now = tonumber(ARGV[1])
local tokens = {}
local ats = {}
local expiry = {}
local out = {}
local previous = 1
for i = 2, #ARGV, 5 do
  local k = tonumber(ARGV[i])
  local capacity = tonumber(ARGV[i + 1])
  local rate = tonumber(ARGV[i + 2])
  local cost = tonumber(ARGV[i + 3])
  if ARGV[i + 4] == '1' and previous ~= 1 then
    out[#out + 1] = -1
    out[#out + 1] = '0'
    previous = -1
  else
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
    previous = allowed
  end
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
      // Sent as it is, not through ioredis's auto-pipelining (a Pipeline object per event-loop
      // turn and per command): the callers already send one call per turn.
      return await redis.sendCommand(new Command('evalsha', [this.sha, keys.length, ...keys, ...args], { replyEncoding: 'utf8' }));
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

const removeIfOwner = new LuaScript(REMOVE_IF_OWNER);
const refreshPresence = new LuaScript(REFRESH_PRESENCE);
const REFRESH_OUTCOMES: readonly PresenceRefresh[] = ['restored', 'kept', 'taken'];
const takeTokens = new LuaScript(TAKE_TOKENS);

export class RedisPresenceStore extends PresenceStore {
  constructor(private readonly redis: Redis) {
    super();
  }

  async set(deviceId: string, instanceId: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(PRESENCE_PREFIX + deviceId, instanceId, 'EX', ttlSeconds);
  }

  async refresh(deviceId: string, instanceId: string, ttlSeconds: number): Promise<PresenceRefresh> {
    const outcome = REFRESH_OUTCOMES[(await refreshPresence.run(this.redis, [PRESENCE_PREFIX + deviceId], [instanceId, ttlSeconds])) as number];
    if (!outcome) throw new Error('presence refresh: unexpected reply from Redis');
    return outcome;
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

/** A `take` or a `takeChain` waiting for the end of the event-loop turn. */
interface PendingCall {
  takes: readonly BucketTake[];
  resolve: (decisions: RateLimitDecision[]) => void;
  reject: (err: unknown) => void;
}

/** Takes per script call at most (the script's arguments grow with them); a chain is never split. */
const MAX_TAKES_PER_CALL = 1000;
/**
 * Script calls in flight at once; takes asked for meanwhile wait and leave together when it
 * returns. Under load that makes the calls fewer and fuller (each costs a write and a read system
 * call and a wake-up of Redis, far more than a take in it); an idle caller still waits for one
 * turn only.
 */
const MAX_CALLS_IN_FLIGHT = 1;
/** The longest a call keeps its slot. */
const SLOT_HELD_MS = 200;

/**
 * Token buckets in Redis. The takes asked for in one event-loop turn (under load, those of every
 * request whose bytes or Redis answers arrived together) leave together as ONE script call that
 * decides them in arrival order: the same decisions as one call per take, because the script runs
 * atomically, but one command for ioredis to encode and parse and for Redis to run instead of one
 * per take. A chain (`takeChain`) rides in the same call, its takes after a refusal not made. An
 * idle caller waits for the end of the current turn only. A failed call fails every take in it.
 * One script call touches several bucket keys: they must live on one Redis (the platform's single
 * REDIS_URL; a Redis Cluster would need the keys in one hash slot).
 */
export class RedisRateLimiter extends RateLimiter {
  private pending: PendingCall[] = [];
  private scheduled = false;
  private inFlight = 0;

  constructor(
    private readonly redis: Redis,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  take(key: string, capacity: number, refillPerSecond: number, cost = 1): Promise<RateLimitDecision> {
    return new Promise<RateLimitDecision>((resolve, reject) => {
      this.enqueue({ takes: [{ key, capacity, refillPerSecond, cost }], resolve: (decisions) => resolve(decisions[0]!), reject });
    });
  }

  override takeChain(takes: readonly BucketTake[]): Promise<RateLimitDecision[]> {
    if (takes.length === 0) return Promise.resolve([]);
    return new Promise<RateLimitDecision[]>((resolve, reject) => this.enqueue({ takes, resolve, reject }));
  }

  private enqueue(call: PendingCall): void {
    this.pending.push(call);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= MAX_CALLS_IN_FLIGHT) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    while (this.pending.length > 0 && this.inFlight < MAX_CALLS_IN_FLIGHT) {
      let calls = 0;
      let takes = 0;
      while (calls < this.pending.length && (takes === 0 || takes + this.pending[calls]!.takes.length <= MAX_TAKES_PER_CALL)) {
        takes += this.pending[calls]!.takes.length;
        calls++;
      }
      const batch = calls === this.pending.length ? this.pending : this.pending.slice(0, calls);
      this.pending = batch === this.pending ? [] : this.pending.slice(calls);
      this.send(batch);
    }
  }

  private send(batch: PendingCall[]): void {
    const keys: string[] = [];
    const indexOf = new Map<string, number>();
    const args: (string | number)[] = [this.now()];
    for (const call of batch) {
      call.takes.forEach((take, i) => {
        let index = indexOf.get(take.key);
        if (index === undefined) {
          index = keys.push(`borealis:ratelimit:${take.key}`);
          indexOf.set(take.key, index);
        }
        args.push(index, take.capacity, take.refillPerSecond, take.cost ?? 1, i === 0 ? 0 : 1);
      });
    }
    // The slot is given back when the call settles, or after SLOT_HELD_MS at most: a call that
    // hangs (Redis gone, ioredis still retrying) must not hold back the takes after it, which
    // then fail or succeed on their own.
    let holding = true;
    const release = () => {
      if (!holding) return;
      holding = false;
      clearTimeout(timer);
      this.inFlight--;
      if (this.pending.length > 0) this.schedule();
    };
    const timer = setTimeout(release, SLOT_HELD_MS);
    this.inFlight++;
    takeTokens.run(this.redis, keys, args).then(
      (reply) => {
        const out = reply as (number | string)[];
        let at = 0;
        for (const call of batch) {
          const decisions: RateLimitDecision[] = [];
          for (const take of call.takes) {
            const allowed = out[at] as number;
            if (allowed !== -1) decisions.push(decide(take, allowed, Number(out[at + 1])));
            at += 2;
          }
          call.resolve(decisions);
        }
      },
      (err: unknown) => batch.forEach((call) => call.reject(err)),
    ).finally(release);
  }
}

function decide({ capacity, refillPerSecond, cost = 1 }: BucketTake, allowed: number, tokens: number): RateLimitDecision {
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
