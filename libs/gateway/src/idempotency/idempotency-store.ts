import type Redis from 'ioredis';
import type { Clock } from '@borealis/util';

/**
 * What the store knows about an Idempotency-Key: `new` (this caller now holds it), `pending` (another
 * request with it is in flight) or `done` (answered with `messageId`). `fingerprint` identifies the
 * request body the key was first used with.
 */
export type IdempotencyRecord =
  | { state: 'new' }
  | { state: 'pending'; fingerprint: string }
  /** `messageId`: the stored answer (a message id, or an endpoint's whole JSON answer). */
  | { state: 'done'; fingerprint: string; messageId: string };

/** Remembers Idempotency-Keys for a while; shared by every gateway instance in distributed mode. */
export abstract class IdempotencyStore {
  /** Claims `key` for a request with `fingerprint` unless it is already known. */
  abstract claim(key: string, fingerprint: string, ttlSeconds: number): Promise<IdempotencyRecord>;
  /** Records the answer to a claimed key. */
  abstract complete(key: string, fingerprint: string, messageId: string, ttlSeconds: number): Promise<void>;
  /** Forgets a claimed key whose request failed, so that a retry may succeed. */
  abstract release(key: string, fingerprint: string): Promise<void>;
}

const PREFIX = 'borealis:idempotency:';

// Deletes the claim only while it is still this request's pending claim.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/** Values: `p|<fingerprint>` while pending, `d|<fingerprint>|<messageId>` once answered. */
export class RedisIdempotencyStore extends IdempotencyStore {
  constructor(private readonly redis: Redis) {
    super();
  }

  async claim(key: string, fingerprint: string, ttlSeconds: number): Promise<IdempotencyRecord> {
    // SET NX then GET: two round trips only when the key is already known (a retry).
    const claimed = await this.redis.set(PREFIX + key, `p|${fingerprint}`, 'EX', ttlSeconds, 'NX');
    if (claimed === 'OK') return { state: 'new' };
    const value = await this.redis.get(PREFIX + key);
    // Expired or released in between: claim again.
    if (value === null) return this.claim(key, fingerprint, ttlSeconds);
    return parse(value);
  }

  async complete(key: string, fingerprint: string, messageId: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(PREFIX + key, `d|${fingerprint}|${messageId}`, 'EX', ttlSeconds);
  }

  async release(key: string, fingerprint: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, PREFIX + key, `p|${fingerprint}`);
  }
}

/** The answer after the fingerprint may itself hold '|' (a whole JSON answer): split twice only. */
function parse(value: string): IdempotencyRecord {
  const rest = value.slice(2);
  const bar = rest.indexOf('|');
  const fingerprint = bar < 0 ? rest : rest.slice(0, bar);
  return value.startsWith('d|') ? { state: 'done', fingerprint, messageId: bar < 0 ? '' : rest.slice(bar + 1) } : { state: 'pending', fingerprint };
}

/** Standalone mode: the records live in this process. */
export class MemoryIdempotencyStore extends IdempotencyStore {
  private readonly records = new Map<string, { value: IdempotencyRecord; expiresAtMs: number }>();

  constructor(private readonly clock: Clock) {
    super();
  }

  async claim(key: string, fingerprint: string, ttlSeconds: number): Promise<IdempotencyRecord> {
    const now = this.clock.now();
    const known = this.records.get(key);
    if (known && known.expiresAtMs > now) return known.value;
    this.records.set(key, { value: { state: 'pending', fingerprint }, expiresAtMs: now + ttlSeconds * 1000 });
    if (this.records.size > 100_000) this.evictExpired(now);
    return { state: 'new' };
  }

  async complete(key: string, fingerprint: string, messageId: string, ttlSeconds: number): Promise<void> {
    this.records.set(key, { value: { state: 'done', fingerprint, messageId }, expiresAtMs: this.clock.now() + ttlSeconds * 1000 });
  }

  async release(key: string, fingerprint: string): Promise<void> {
    const known = this.records.get(key)?.value;
    if (known?.state === 'pending' && known.fingerprint === fingerprint) this.records.delete(key);
  }

  private evictExpired(now: number): void {
    for (const [key, record] of this.records) if (record.expiresAtMs <= now) this.records.delete(key);
  }
}
