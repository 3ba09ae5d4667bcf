export interface GatewayModuleOptions {
  /** Expected `iss` of access tokens. */
  issuer: string;
  /** auth's JWKS URL; keys are cached and refetched when a token names an unknown `kid`. */
  jwksUrl: string;
  /** Expected `aud` of access tokens. */
  audience: string;
  /** Token bucket per project: `burst` sends at once, refilled at `perSecond`. */
  rateLimit: { perSecond: number; burst: number };
  /**
   * push-core's internal API base URL. When set, message statuses are read from it over HTTP;
   * otherwise the composition provides `MessageStatusReader` globally (standalone mode).
   */
  pushCoreUrl?: string;
  /** Prefix of this module's consumer groups; default `borealis.gateway`. */
  consumerGroupPrefix?: string;
}

export const GATEWAY_OPTIONS = Symbol('GATEWAY_OPTIONS');
