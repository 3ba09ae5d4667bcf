import { Logger } from '@nestjs/common';
import { RateLimiter, type BucketTake, type RateLimitDecision } from '@borealis/keyvalue';
import type { Clock } from '@borealis/util';

export interface FailOpenOptions {
  /** A shared-limiter answer slower than this counts as a failure. */
  timeoutMs: number;
  /** After a failure, the local limiter decides alone for this long before the shared one is tried again. */
  probeAfterMs: number;
}

/**
 * The shared (Redis) limiter, falling back to a limiter in this process when it fails or is slow.
 * Failing open keeps sends flowing during a Redis outage, at the price of each gateway instance
 * enforcing the whole limit on its own (N instances admit up to N times the quota) until Redis
 * answers again. Failing closed would turn a cache outage into a send outage.
 */
export class FailOpenRateLimiter extends RateLimiter {
  private readonly logger = new Logger('RateLimiter');
  private localUntilMs = 0;

  constructor(
    private readonly shared: RateLimiter,
    private readonly local: RateLimiter,
    private readonly clock: Clock,
    private readonly options: FailOpenOptions = { timeoutMs: 250, probeAfterMs: 5000 },
  ) {
    super();
  }

  /** True while decisions come from the local limiter. */
  get degraded(): boolean {
    return this.clock.now() < this.localUntilMs;
  }

  async take(key: string, capacity: number, refillPerSecond: number, cost = 1): Promise<RateLimitDecision> {
    if (this.degraded) return this.local.take(key, capacity, refillPerSecond, cost);
    try {
      return await withTimeout(this.shared.take(key, capacity, refillPerSecond, cost), this.options.timeoutMs);
    } catch (err) {
      this.fellBack(err);
      return this.local.take(key, capacity, refillPerSecond, cost);
    }
  }

  override async takeChain(takes: readonly BucketTake[]): Promise<RateLimitDecision[]> {
    if (this.degraded) return this.local.takeChain(takes);
    try {
      return await withTimeout(this.shared.takeChain(takes), this.options.timeoutMs);
    } catch (err) {
      this.fellBack(err);
      return this.local.takeChain(takes);
    }
  }

  private fellBack(err: unknown): void {
    this.localUntilMs = this.clock.now() + this.options.probeAfterMs;
    this.logger.warn({ msg: 'shared rate limiter failed; limiting in this process', probeAfterMs: this.options.probeAfterMs, error: String(err) });
  }
}

/** Settles like `promise`, or fails after `ms`: two closures and one timer per call, no race promise. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
