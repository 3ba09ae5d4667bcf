/** A token bucket: `burst` requests at once, refilled at `perSecond` (fractions allowed). */
export interface BucketLimit {
  perSecond: number;
  burst: number;
}

export interface GatewayModuleOptions {
  /** Expected `iss` of access tokens. */
  issuer: string;
  /** auth's JWKS URL; keys are cached and refetched when a token names an unknown `kid`. */
  jwksUrl: string;
  /** Expected `aud` of access tokens. */
  audience: string;
  /**
   * auth's access-token lifetime (`ACCESS_TOKEN_TTL_SECONDS`, the same value): tokens whose
   * `exp` lies further from `iat` or from now, beyond a 30 s clock skew, are refused.
   */
  accessTokenTtlSeconds: number;
  /** Sends per project (the project's quota). */
  rateLimit: BucketLimit;
  /** Requests per client IP address on every push API route; default 1000/s, burst 2000. */
  ipRateLimit?: BucketLimit;
  /**
   * Redis for Idempotency-Key records, shared by every gateway instance. Without it the records
   * live in this process (standalone mode).
   */
  redisUrl?: string;
  /** How long an Idempotency-Key is remembered; default one day. */
  idempotencyTtlSeconds?: number;
  /**
   * push-core's internal API base URL. When set, message statuses and statistics are read from it
   * over HTTP; otherwise the composition provides `MessageStatusReader` and `ProjectStatsReader`
   * globally (standalone mode).
   */
  pushCoreUrl?: string;
  /** Prefix of this module's consumer groups; default `borealis.gateway`. */
  consumerGroupPrefix?: string;
}

export const DEFAULT_IP_RATE_LIMIT: BucketLimit = { perSecond: 1000, burst: 2000 };
export const DEFAULT_IDEMPOTENCY_TTL_SECONDS = 24 * 3600;

export const GATEWAY_OPTIONS = Symbol('GATEWAY_OPTIONS');
