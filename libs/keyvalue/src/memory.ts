import type { Clock } from '@borealis/util';
import { SystemClock } from '@borealis/util';
import { PresenceStore, RateLimiter, ReplayGuard, type PresenceRefresh, type RateLimitDecision } from './ports';

/** Standalone mode: presence in this process's memory, with the same semantics as Redis. */
export class MemoryPresenceStore extends PresenceStore {
  private readonly entries = new Map<string, { instanceId: string; expiresAt: number }>();

  constructor(private readonly clock: Clock = new SystemClock()) {
    super();
  }

  async set(deviceId: string, instanceId: string, ttlSeconds: number): Promise<void> {
    this.entries.set(deviceId, { instanceId, expiresAt: this.clock.now() + ttlSeconds * 1000 });
  }

  async refresh(deviceId: string, instanceId: string, ttlSeconds: number): Promise<PresenceRefresh> {
    const now = this.clock.now();
    const entry = this.entries.get(deviceId);
    const owner = entry && entry.expiresAt > now ? entry.instanceId : null;
    if (owner !== null && owner !== instanceId) return 'taken';
    this.entries.set(deviceId, { instanceId, expiresAt: now + ttlSeconds * 1000 });
    return owner === null ? 'restored' : 'kept';
  }

  async lookup(deviceIds: readonly string[]): Promise<Map<string, string>> {
    const now = this.clock.now();
    const out = new Map<string, string>();
    for (const id of deviceIds) {
      const entry = this.entries.get(id);
      if (!entry) continue;
      if (entry.expiresAt <= now) this.entries.delete(id);
      else out.set(id, entry.instanceId);
    }
    return out;
  }

  async removeIfOwner(deviceId: string, instanceId: string): Promise<boolean> {
    if (this.entries.get(deviceId)?.instanceId !== instanceId) return false;
    return this.entries.delete(deviceId);
  }
}

/** Standalone mode (and the fallback when Redis is unreachable): token buckets in memory. */
export class MemoryRateLimiter extends RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly clock: Clock = new SystemClock()) {
    super();
  }

  async take(key: string, capacity: number, refillPerSecond: number, cost = 1): Promise<RateLimitDecision> {
    const now = this.clock.now();
    const bucket = this.buckets.get(key) ?? { tokens: capacity, at: now };
    const tokens = Math.min(capacity, bucket.tokens + ((now - bucket.at) / 1000) * refillPerSecond);
    const allowed = tokens >= cost;
    const left = allowed ? tokens - cost : tokens;
    this.buckets.set(key, { tokens: left, at: now });
    if (this.buckets.size > 100_000) this.evictFull(now, refillPerSecond, capacity);
    return {
      allowed,
      remaining: Math.floor(left),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((cost - left) / refillPerSecond)),
      limit: capacity,
    };
  }

  /** Buckets that have refilled completely carry no information: drop them. */
  private evictFull(now: number, refillPerSecond: number, capacity: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * refillPerSecond >= capacity) this.buckets.delete(key);
    }
  }
}

export class MemoryReplayGuard extends ReplayGuard {
  private readonly seen = new Map<string, number>();

  constructor(private readonly clock: Clock = new SystemClock()) {
    super();
  }

  async firstUse(id: string, ttlSeconds: number): Promise<boolean> {
    const now = this.clock.now();
    const until = this.seen.get(id);
    if (until !== undefined && until > now) return false;
    this.seen.set(id, now + ttlSeconds * 1000);
    if (this.seen.size > 10_000) for (const [k, t] of this.seen) if (t <= now) this.seen.delete(k);
    return true;
  }
}
