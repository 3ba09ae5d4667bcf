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
  /** Login and sign-up limits and password-hashing bounds; defaults in DEFAULT_ACCOUNT_LIMITS. */
  accountLimits?: Partial<AccountLimitOptions>;
  /**
   * Who may sign up (docs/auth.md): anyone (`open`, the default here), only someone holding a
   * pending invitation for that e-mail address (`invitation`: operators and organization admins
   * invite), or no one (`closed`).
   */
  signUp?: SignUpMode;
  /** What the console's push-side routes reach (docs/auth.md, "Console routes"). */
  console?: ConsoleBackendOptions;
}

export interface ConsoleBackendOptions {
  /**
   * push-core's internal API: message listings and statuses, statistics and registration counts
   * are read there. Without it the composition provides `PushCoreReads` (standalone), or those
   * routes answer 503.
   */
  pushCoreUrl?: string;
  /** The gateway's base URL: the test send posts to its public send route. Without it the test send answers 503. */
  gatewayUrl?: string;
  /** Other services whose `/readyz` and `/metrics` the operator overview reads. */
  services?: { name: string; url: string }[];
  /** This process in the operator overview: `auth`, or `standalone`. */
  selfName?: string;
}

export const SIGN_UP_MODES = ['open', 'invitation', 'closed'] as const;
export type SignUpMode = (typeof SIGN_UP_MODES)[number];

export interface AccountLimitOptions {
  /** Logins per source address, whatever the e-mail: a new address per attempt is no way around it. */
  loginPerIp: TokenBucket;
  /** Logins per source address and e-mail: guessing one account's password. */
  loginPerIpAndEmail: TokenBucket;
  /** Sign-ups per source address. */
  signUpPerIp: TokenBucket;
  /** Password hashes (scrypt) running at once; the rest of libuv's threadpool stays free for token signing. */
  hashConcurrency: number;
  /** Logins and sign-ups waiting for a hashing slot; beyond, 503 at once. */
  hashQueue: number;
}

/** libuv's threadpool size (UV_THREADPOOL_SIZE, default 4): scrypt and WebCrypto (jose) share it. */
export function threadpoolSize(): number {
  const size = Number(process.env.UV_THREADPOOL_SIZE);
  return Number.isInteger(size) && size >= 1 ? size : 4;
}

/**
 * A person logs in a few times a day; an office behind one address, a few dozen. Hashing: a quarter
 * of the threadpool, so that a flood of logins leaves three quarters to token signing; 32 waiting
 * is about 3 s of work at one hash at a time.
 */
export function defaultAccountLimits(): AccountLimitOptions {
  return {
    loginPerIp: { burst: 30, perSecond: 0.5 },
    loginPerIpAndEmail: { burst: 10, perSecond: 1 / 6 },
    signUpPerIp: { burst: 5, perSecond: 1 / 60 },
    hashConcurrency: Math.max(1, Math.floor(threadpoolSize() / 4)),
    hashQueue: 32,
  };
}

export function resolveAccountLimits(options: Partial<AccountLimitOptions> | undefined): AccountLimitOptions {
  return { ...defaultAccountLimits(), ...options };
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
  const accounts = resolveAccountLimits(options.accountLimits);
  for (const name of ['loginPerIp', 'loginPerIpAndEmail', 'signUpPerIp'] as const) {
    const bucket = accounts[name];
    if (!(Number.isInteger(bucket.burst) && bucket.burst >= 1 && bucket.perSecond > 0)) problems.push(`accountLimits.${name} needs an integer burst >= 1 and perSecond > 0`);
  }
  if (!(Number.isInteger(accounts.hashConcurrency) && accounts.hashConcurrency >= 1)) problems.push('accountLimits.hashConcurrency must be a positive integer');
  if (!(Number.isInteger(accounts.hashQueue) && accounts.hashQueue >= 0)) problems.push('accountLimits.hashQueue must be an integer >= 0');
  for (const [name, value] of [['console.pushCoreUrl', options.console?.pushCoreUrl], ['console.gatewayUrl', options.console?.gatewayUrl], ...(options.console?.services ?? []).map((s) => [`console.services.${s.name}`, s.url] as const)] as const) {
    if (value !== undefined && !/^https?:\/\//.test(value)) problems.push(`${name} must be an http(s) URL`);
  }
  const session = options.sessionTtlSeconds;
  if (session !== undefined && !(Number.isInteger(session) && session >= 300 && session <= 30 * 86_400)) {
    problems.push('sessionTtlSeconds must be an integer between 300 and 2592000');
  }
  if (problems.length > 0) throw new Error(`invalid auth options: ${problems.join('; ')}`);
}
