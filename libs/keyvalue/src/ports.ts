/**
 * Where each connected device is held: deviceId → transport instance id. Written by transports,
 * read by push-core. Removal is conditional on ownership so that a late disconnect on one instance
 * never erases the newer route to another.
 */
export abstract class PresenceStore {
  abstract set(deviceId: string, instanceId: string, ttlSeconds: number): Promise<void>;
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

/** A token bucket per key: `capacity` tokens, refilled at `refillPerSecond`. */
export abstract class RateLimiter {
  abstract take(key: string, capacity: number, refillPerSecond: number, cost?: number): Promise<RateLimitDecision>;
}

/** Remembers one-time values (assertion `jti`) until they expire. */
export abstract class ReplayGuard {
  /** Returns true the first time `id` is seen within `ttlSeconds`, false for a replay. */
  abstract firstUse(id: string, ttlSeconds: number): Promise<boolean>;
}
