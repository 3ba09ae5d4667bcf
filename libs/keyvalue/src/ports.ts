/**
 * Where each connected device is held: deviceId → transport instance id. Written by transports,
 * read by push-core. Removal is conditional on ownership so that a late disconnect on one instance
 * never erases the newer route to another.
 */
/**
 * What a presence refresh found: `kept` (this instance's entry, its TTL renewed), `restored` (no
 * entry: it had expired or been removed, and is set again), `taken` (another instance's entry, left
 * alone: the device has a newer connection there).
 */
export type PresenceRefresh = 'kept' | 'restored' | 'taken';

export abstract class PresenceStore {
  abstract set(deviceId: string, instanceId: string, ttlSeconds: number): Promise<void>;
  /** Renews the entry if it is this instance's or there is none; never overwrites another instance's. */
  abstract refresh(deviceId: string, instanceId: string, ttlSeconds: number): Promise<PresenceRefresh>;
  /** Instance ids for the given devices; absent devices are missing from the map. */
  abstract lookup(deviceIds: readonly string[]): Promise<Map<string, string>>;
  /** Deletes the entry only if `instanceId` still owns it. Returns whether it deleted. */
  abstract removeIfOwner(deviceId: string, instanceId: string): Promise<boolean>;
}

export interface RateLimitDecision {
  allowed: boolean;
  /** Tokens left after this request. */
  remaining: number;
  /** Seconds until a token is available again (0 when allowed). */
  retryAfterSeconds: number;
  limit: number;
}

/** One take from a bucket (the arguments of `RateLimiter.take`). */
export interface BucketTake {
  key: string;
  capacity: number;
  refillPerSecond: number;
  cost?: number;
}

/** A token bucket per key: `capacity` tokens, refilled at `refillPerSecond`. */
export abstract class RateLimiter {
  abstract take(key: string, capacity: number, refillPerSecond: number, cost?: number): Promise<RateLimitDecision>;

  /**
   * Takes from several buckets in order, each only if every take before it was allowed: the
   * decisions of the takes made, ending with the first refusal (a refused take leaves the buckets
   * after it untouched). The same decisions as calling `take` one after the other; a shared
   * limiter makes them in one round trip.
   */
  async takeChain(takes: readonly BucketTake[]): Promise<RateLimitDecision[]> {
    const decisions: RateLimitDecision[] = [];
    for (const t of takes) {
      const decision = await this.take(t.key, t.capacity, t.refillPerSecond, t.cost);
      decisions.push(decision);
      if (!decision.allowed) break;
    }
    return decisions;
  }
}

/** Remembers one-time values (assertion `jti`) until they expire. */
export abstract class ReplayGuard {
  /** Returns true the first time `id` is seen within `ttlSeconds`, false for a replay. */
  abstract firstUse(id: string, ttlSeconds: number): Promise<boolean>;
}
