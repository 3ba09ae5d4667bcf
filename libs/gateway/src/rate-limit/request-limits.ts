import { Inject, Injectable } from '@nestjs/common';
import { DomainError, ErrorCode } from '@borealis/contracts';
import { MemoryRateLimiter, RateLimiter, type RateLimitDecision } from '@borealis/keyvalue';
import { Clock } from '@borealis/util';
import { DEFAULT_IP_RATE_LIMIT, GATEWAY_OPTIONS, type BucketLimit, type GatewayModuleOptions } from '../gateway-options';
import { FailOpenRateLimiter } from './fail-open-rate-limiter';

/** A limiter's decision together with the policy it applied (for the RateLimit-* headers). */
export interface LimitOutcome {
  decision: RateLimitDecision;
  policy: BucketLimit;
}

/**
 * The gateway's token buckets: one per client IP address (every route, before the token is even
 * verified) and one per project (sends: the project's quota). A refusal is rate_limited with
 * Retry-After; `onOutcome` sees every decision so that the caller can set RateLimit-* headers.
 */
@Injectable()
export class RequestLimits {
  private readonly limiter: FailOpenRateLimiter;
  private readonly ipLimit: BucketLimit;

  constructor(
    limiter: RateLimiter,
    clock: Clock,
    @Inject(GATEWAY_OPTIONS) private readonly options: GatewayModuleOptions,
  ) {
    this.limiter = new FailOpenRateLimiter(limiter, new MemoryRateLimiter(clock), clock);
    this.ipLimit = options.ipRateLimit ?? DEFAULT_IP_RATE_LIMIT;
  }

  takeIp(ip: string, onOutcome: (outcome: LimitOutcome) => void): Promise<void> {
    return this.take(`ip:${ip}`, this.ipLimit, onOutcome, () => `too many requests from ${ip}`);
  }

  takeProject(projectId: string, onOutcome: (outcome: LimitOutcome) => void): Promise<void> {
    const { perSecond, burst } = this.options.rateLimit;
    return this.take(`project:${projectId}`, this.options.rateLimit, onOutcome, () => `project ${projectId} exceeds its quota of ${perSecond} messages per second (burst ${burst})`);
  }

  private async take(key: string, policy: BucketLimit, onOutcome: (outcome: LimitOutcome) => void, refusal: () => string): Promise<void> {
    const decision = await this.limiter.take(key, policy.burst, policy.perSecond);
    onOutcome({ decision, policy });
    if (!decision.allowed) throw new DomainError(ErrorCode.RateLimited, refusal(), { retryAfterSeconds: decision.retryAfterSeconds });
  }
}
