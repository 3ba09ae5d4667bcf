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

  /**
   * `takeIp` and then, if the IP was allowed, `takeProject`, in one round trip to the shared
   * limiter: the same decisions, callbacks and errors as the two calls one after the other.
   */
  async takeIpThenProject(ip: string, projectId: string, onIpOutcome: (outcome: LimitOutcome) => void, onProjectOutcome: (outcome: LimitOutcome) => void): Promise<void> {
    const project = this.options.rateLimit;
    const [ipDecision, projectDecision] = await this.limiter.takeChain([
      { key: `ip:${ip}`, capacity: this.ipLimit.burst, refillPerSecond: this.ipLimit.perSecond },
      { key: `project:${projectId}`, capacity: project.burst, refillPerSecond: project.perSecond },
    ]);
    this.decided(ipDecision!, this.ipLimit, onIpOutcome, () => `too many requests from ${ip}`);
    this.decided(projectDecision!, project, onProjectOutcome, () => this.quotaExceeded(projectId));
  }

  takeIp(ip: string, onOutcome: (outcome: LimitOutcome) => void): Promise<void> {
    return this.take(`ip:${ip}`, this.ipLimit, onOutcome, () => `too many requests from ${ip}`);
  }

  /** `cost`: how many messages the request sends (a multicast's recipients). */
  takeProject(projectId: string, onOutcome: (outcome: LimitOutcome) => void, cost = 1): Promise<void> {
    return this.take(`project:${projectId}`, this.options.rateLimit, onOutcome, () => this.quotaExceeded(projectId), cost);
  }

  private quotaExceeded(projectId: string): string {
    const { perSecond, burst } = this.options.rateLimit;
    return `project ${projectId} exceeds its quota of ${perSecond} messages per second (burst ${burst})`;
  }

  private async take(key: string, policy: BucketLimit, onOutcome: (outcome: LimitOutcome) => void, refusal: () => string, cost = 1): Promise<void> {
    this.decided(await this.limiter.take(key, policy.burst, policy.perSecond, cost), policy, onOutcome, refusal);
  }

  private decided(decision: RateLimitDecision, policy: BucketLimit, onOutcome: (outcome: LimitOutcome) => void, refusal: () => string): void {
    onOutcome({ decision, policy });
    if (!decision.allowed) throw new DomainError(ErrorCode.RateLimited, refusal(), { retryAfterSeconds: decision.retryAfterSeconds });
  }
}
