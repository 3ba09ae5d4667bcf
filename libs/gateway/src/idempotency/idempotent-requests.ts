import { createHash } from 'node:crypto';
import type { Logger } from '@nestjs/common';
import { DomainError, ErrorCode } from '@borealis/contracts';
import { IdempotencyKeyReusedError } from './idempotency-key-reused';
import type { IdempotencyStore } from './idempotency-store';

/** Idempotency-Key values: 1 to 255 visible ASCII characters (no spaces or control characters). */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** A 400 naming the header, for a key that is not 1 to 255 visible ASCII characters (never echoed). */
export function checkIdempotencyKey(key: string): void {
  if (!IDEMPOTENCY_KEY.test(key)) {
    throw new DomainError(ErrorCode.InvalidArgument, 'Idempotency-Key must be 1 to 255 visible ASCII characters', {
      fields: { 'Idempotency-Key': 'must be 1 to 255 visible ASCII characters' },
    });
  }
}

/**
 * The IETF Idempotency-Key flow around one request's work: the first request with a key claims it
 * and runs; a retry with the same key and body gets the first answer (`replayed`), one with another
 * body an `IdempotencyKeyReusedError` (422), one while the first is in flight a 409 with
 * Retry-After. A failed request releases its key so that a retry may succeed. The answer is
 * stored as text (a message id, or an endpoint's whole JSON answer).
 */
export class IdempotentRequests {
  constructor(
    private readonly store: IdempotencyStore,
    private readonly ttlSeconds: number,
    private readonly logger: Logger,
  ) {}

  /** `scope` keeps endpoints' keys apart (and projects': two may pick the same key). */
  async run(scope: string, idempotencyKey: string, request: unknown, work: () => Promise<string>, log: Record<string, unknown>): Promise<{ answer: string; replayed: boolean }> {
    const key = `${scope}/${idempotencyKey}`;
    const fingerprint = createHash('sha256').update(JSON.stringify(request)).digest('base64url');
    const known = await this.store.claim(key, fingerprint, this.ttlSeconds).catch((err: unknown) => {
      this.logger.warn({ msg: 'idempotency store failed', ...log, error: String(err) });
      throw new DomainError(ErrorCode.Unavailable, 'Idempotency-Key records are unavailable now; retry', { retryAfterSeconds: 1 });
    });
    if (known.state !== 'new' && known.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError(idempotencyKey);
    if (known.state === 'done') return { answer: known.messageId, replayed: true };
    if (known.state === 'pending') {
      throw new DomainError(ErrorCode.Conflict, `a request with Idempotency-Key "${idempotencyKey}" is still in progress; retry`, { retryAfterSeconds: 1 });
    }

    let answer: string;
    try {
      answer = await work();
    } catch (err) {
      await this.store.release(key, fingerprint).catch((releaseErr: unknown) => {
        this.logger.warn({ msg: 'idempotency claim not released; it expires by itself', ...log, error: String(releaseErr) });
      });
      throw err;
    }
    await this.store.complete(key, fingerprint, answer, this.ttlSeconds).catch((err: unknown) => {
      // The work is done (durable); only a retry of this request could now do it twice.
      this.logger.warn({ msg: 'idempotency record not stored', ...log, error: String(err) });
    });
    return { answer, replayed: false };
  }
}
