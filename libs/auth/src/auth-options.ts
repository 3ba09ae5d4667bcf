export interface AuthModuleOptions {
  /** auth's own PostgreSQL database. */
  databaseUrl: string;
  /** `iss` of access tokens, e.g. http://127.0.0.1:8080/auth/public */
  issuer: string;
  /** The public token URL, e.g. http://127.0.0.1:8080/auth/public/oauth2/token */
  tokenUrl: string;
  /** Resource servers tokens may be issued for; the first is the default (e.g. ['borealis-push']). */
  audiences: string[];
  accessTokenTtlSeconds: number;
  /** Operator bearer token for the admin API (at least 32 characters). */
  adminToken: string;
  /** AES-256 key (32 bytes) that seals the access-token signing keys in the database. */
  signingKeyEncryptionKey: Buffer;
  /** `api_url` written into project settings files, e.g. http://127.0.0.1:8080/push/public/api/v1/ */
  publicApiUrl: string;
  /** Device address written into project settings files, e.g. tcp://127.0.0.1:5228 */
  pushPublicAddress: string;
  /** Token-endpoint limits (token buckets); defaults in DEFAULT_TOKEN_RATE_LIMITS. */
  tokenRateLimits?: TokenRateLimitOptions;
  /** Console session lifetime; default 12 hours. */
  sessionTtlSeconds?: number;
}

export interface TokenBucket {
  burst: number;
  perSecond: number;
}

export interface TokenRateLimitOptions {
  /** Per source address, checked before any work. */
  perIp: TokenBucket;
  /** Per authenticated client, checked once its assertion's signature has verified. */
  perClient: TokenBucket;
}

/**
 * An app server needs a token about once per token lifetime; a whole NAT'd data centre shares one
 * address. Generous enough for both, tight enough to stop a client hammering the signing key.
 */
export const DEFAULT_TOKEN_RATE_LIMITS: TokenRateLimitOptions = {
  perIp: { burst: 300, perSecond: 20 },
  perClient: { burst: 30, perSecond: 1 },
};

export const DEFAULT_SESSION_TTL_SECONDS = 12 * 3600;

export const AUTH_OPTIONS = Symbol('AUTH_OPTIONS');

/** Programming or configuration mistakes in the options fail the start, naming the option. */
export function checkAuthOptions(options: AuthModuleOptions): void {
  const problems: string[] = [];
  if (!options.databaseUrl) problems.push('databaseUrl is required');
  for (const name of ['issuer', 'tokenUrl', 'publicApiUrl'] as const) {
    if (!URL.canParse(options[name])) problems.push(`${name} must be an absolute URL`);
  }
  if (!options.pushPublicAddress) problems.push('pushPublicAddress is required');
  if (options.audiences.length === 0 || options.audiences.some((a) => a.trim() === '')) {
    problems.push('audiences must list at least one non-empty audience');
  }
  if (!Number.isInteger(options.accessTokenTtlSeconds) || options.accessTokenTtlSeconds < 60 || options.accessTokenTtlSeconds > 86_400) {
    problems.push('accessTokenTtlSeconds must be an integer between 60 and 86400');
  }
  if (options.adminToken.length < 32) problems.push('adminToken must be at least 32 characters');
  if (options.signingKeyEncryptionKey.length !== 32) problems.push('signingKeyEncryptionKey must be 32 bytes (AES-256)');
  for (const [name, bucket] of Object.entries(options.tokenRateLimits ?? {})) {
    if (!(bucket.burst >= 1 && bucket.perSecond > 0)) problems.push(`tokenRateLimits.${name} needs burst >= 1 and perSecond > 0`);
  }
  const session = options.sessionTtlSeconds;
  if (session !== undefined && !(Number.isInteger(session) && session >= 300 && session <= 30 * 86_400)) {
    problems.push('sessionTtlSeconds must be an integer between 300 and 2592000');
  }
  if (problems.length > 0) throw new Error(`invalid auth options: ${problems.join('; ')}`);
}
