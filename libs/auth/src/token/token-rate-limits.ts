import { Inject, Injectable } from '@nestjs/common';
import { OAuthError, OAuthErrorCode } from '@borealis/contracts';
import { RateLimiter } from '@borealis/keyvalue';
import { AUTH_OPTIONS, DEFAULT_TOKEN_RATE_LIMITS, type AuthModuleOptions, type TokenBucket, type TokenRateLimitOptions } from '../auth-options';

/** A 429 from the token endpoint; the controller turns `retryAfterSeconds` into `Retry-After`. */
export class TokenRateLimited extends OAuthError {
  constructor(readonly retryAfterSeconds: number) {
    // RFC 6749 has no rate-limit error; invalid_request with 429 is what common servers answer.
    super(OAuthErrorCode.InvalidRequest, `too many token requests; retry after ${retryAfterSeconds} s`, 429);
  }
}

/** Per-address and per-client token buckets in front of the token endpoint. */
@Injectable()
export class TokenRateLimits {
  private readonly limits: TokenRateLimitOptions;

  constructor(
    private readonly limiter: RateLimiter,
    @Inject(AUTH_OPTIONS) options: Pick<AuthModuleOptions, 'tokenRateLimits'>,
  ) {
    this.limits = options.tokenRateLimits ?? DEFAULT_TOKEN_RATE_LIMITS;
  }

  perIp(ip: string): Promise<void> {
    return this.take(`auth:token:ip:${ip}`, this.limits.perIp);
  }

  /** Keyed by a client whose signature verified, so nobody can spend another client's budget. */
  perClient(clientId: string): Promise<void> {
    return this.take(`auth:token:client:${clientId}`, this.limits.perClient);
  }

  private async take(key: string, bucket: TokenBucket): Promise<void> {
    const decision = await this.limiter.take(key, bucket.burst, bucket.perSecond);
    if (!decision.allowed) throw new TokenRateLimited(decision.retryAfterSeconds);
  }
}
