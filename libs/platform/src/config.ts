import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { isValidInstanceId } from '@borealis/contracts';

/**
 * Configuration schemas, one per way of running. Keys are environment variable names; values are
 * validated once at start and the error names the variable (`loadConfig` from @borealis/util).
 * docs/configuration.md lists them; each app has a sample env file.
 */

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);
const url = z.string().url();
const secret = (name: string) => z.string().min(32, `${name} must be at least 32 characters`);
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1');

const kafka = {
  KAFKA_BROKERS: z
    .string({ message: 'KAFKA_BROKERS is required (comma-separated host:port list)' })
    .min(1)
    .transform((v) => v.split(',').map((b) => b.trim()).filter(Boolean)),
  KAFKA_CLIENT_ID: z.string().optional(),
  KAFKA_TOPIC_CREATION: z.enum(['admin', 'auto']).default('admin'),
  KAFKA_TOPIC_PARTITIONS: positiveInt(12),
  KAFKA_REPLICATION_FACTOR: z.coerce.number().int().min(-1).default(-1),
  KAFKA_SESSION_TIMEOUT_MS: positiveInt(30000),
  KAFKA_HEARTBEAT_INTERVAL_MS: positiveInt(3000),
  KAFKA_MAX_WAIT_MS: positiveInt(100),
  KAFKA_REQUEST_TIMEOUT_MS: positiveInt(5000),
  KAFKA_IDEMPOTENT: bool(true),
  // The brokers' message.max.bytes; a request above it is refused whole (MESSAGE_TOO_LARGE).
  KAFKA_MAX_REQUEST_BYTES: z.coerce.number().int().min(4096, 'KAFKA_MAX_REQUEST_BYTES must be at least 4096').max(100 * 1024 * 1024).default(1_048_588),
  KAFKA_SSL: bool(false),
  KAFKA_SSL_CA_FILE: z.string().min(1).optional(),
  KAFKA_SSL_CERT_FILE: z.string().min(1).optional(),
  KAFKA_SSL_KEY_FILE: z.string().min(1).optional(),
  KAFKA_SSL_REJECT_UNAUTHORIZED: bool(true),
  KAFKA_SASL_MECHANISM: z.preprocess((v) => (typeof v === 'string' ? v.toLowerCase() : v), z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional()),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD_FILE: z.string().min(1).optional(),
};

interface KafkaSecurityEnv {
  KAFKA_SSL: boolean;
  KAFKA_SSL_CA_FILE?: string | undefined;
  KAFKA_SSL_CERT_FILE?: string | undefined;
  KAFKA_SSL_KEY_FILE?: string | undefined;
  KAFKA_SASL_MECHANISM?: string | undefined;
  KAFKA_SASL_USERNAME?: string | undefined;
  KAFKA_SASL_PASSWORD?: string | undefined;
  KAFKA_SASL_PASSWORD_FILE?: string | undefined;
}

/** The Kafka TLS and SASL variables that only make sense together. */
function kafkaSecurityRules(env: KafkaSecurityEnv, ctx: z.RefinementCtx): void {
  const issue = (variable: string, message: string) => ctx.addIssue({ code: 'custom', path: [variable], message });
  if (!env.KAFKA_SSL) {
    for (const v of ['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE'] as const) if (env[v]) issue(v, `${v} is set but KAFKA_SSL is not true`);
  }
  if (!!env.KAFKA_SSL_CERT_FILE !== !!env.KAFKA_SSL_KEY_FILE) {
    issue(env.KAFKA_SSL_CERT_FILE ? 'KAFKA_SSL_KEY_FILE' : 'KAFKA_SSL_CERT_FILE', 'a client certificate needs both KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE');
  }
  if (env.KAFKA_SASL_MECHANISM) {
    if (!env.KAFKA_SASL_USERNAME) issue('KAFKA_SASL_USERNAME', `KAFKA_SASL_USERNAME is required with KAFKA_SASL_MECHANISM=${env.KAFKA_SASL_MECHANISM}`);
    if (!env.KAFKA_SASL_PASSWORD === !env.KAFKA_SASL_PASSWORD_FILE) issue('KAFKA_SASL_PASSWORD', 'give exactly one of KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE');
  } else {
    for (const v of ['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD', 'KAFKA_SASL_PASSWORD_FILE'] as const) if (env[v]) issue(v, `${v} is set but KAFKA_SASL_MECHANISM is not (plain, scram-sha-256 or scram-sha-512)`);
  }
}

/**
 * Whose `X-Forwarded-For` to believe for the client's address (per-IP rate limits, logs): `false`,
 * the default, takes the connection's peer as the client; a hop count (`1`: one proxy in front,
 * such as the ingress) takes the address that many proxies back; a comma-separated list of proxy
 * addresses or CIDRs believes only those. `true` (believe every hop) is refused: any client could
 * then name its own address and escape its per-IP limits.
 */
export type TrustProxy = false | number | string;
const trustProxy = z
  .string()
  .default('false')
  .transform((raw, ctx): TrustProxy => {
    const v = raw.trim();
    if (v === '' || v === 'false' || v === '0') return false;
    if (/^\d+$/.test(v)) return Number(v);
    if (v === 'true') {
      ctx.addIssue({ code: 'custom', message: 'TRUST_PROXY=true would let any client choose its own address; give the number of proxies in front (e.g. 1) or their addresses/CIDRs' });
      return z.NEVER;
    }
    if (!v.split(',').every((part) => /^[0-9A-Fa-f.:]+(\/\d{1,3})?$/.test(part.trim()))) {
      ctx.addIssue({ code: 'custom', message: 'TRUST_PROXY must be false, a number of proxies, or comma-separated proxy addresses/CIDRs' });
      return z.NEVER;
    }
    return v;
  });

const http = {
  HTTP_HOST: z.string().default('0.0.0.0'),
  TRUST_PROXY: trustProxy,
  HTTP_PORT: port(8080),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
  SHUTDOWN_DELAY_MS: z.coerce.number().int().min(0).max(120_000).default(0),
};

/**
 * Lifetime of auth's access tokens, read by auth (which issues them) and by the gateway (which
 * refuses longer-lived ones): one variable, one default, one range, so the two cannot disagree
 * unless a deployment sets them apart.
 */
const accessTokenTtlSeconds = z.coerce.number().int().min(60).max(86_400).default(3600);

/** `name=url,name=url`: services the operator overview asks for `/readyz` and `/metrics`. */
const overviewServices = z
  .string()
  .optional()
  .transform((raw, ctx) => {
    if (raw === undefined || raw.trim() === '') return undefined;
    const services: { name: string; url: string }[] = [];
    for (const part of raw.split(',').map((p) => p.trim()).filter(Boolean)) {
      const eq = part.indexOf('=');
      const name = part.slice(0, eq).trim();
      const target = part.slice(eq + 1).trim();
      if (eq <= 0 || !/^[a-z0-9-]+$/.test(name) || !/^https?:\/\/\S+$/.test(target)) {
        ctx.addIssue({ code: 'custom', message: `CONSOLE_OVERVIEW_SERVICES must be name=http(s)://url pairs separated by commas (at "${part}")` });
        return z.NEVER;
      }
      services.push({ name, url: target });
    }
    return services;
  });

/** Where the built web console is (docs/adr/0008-console-serving.md); default dist/apps/console beside the code. */
const consoleSite = { BOREALIS_CONSOLE_DIR: z.string().min(1).optional() };

/** Services with a database: `true` runs the pending migrations and exits (the migrations job). */
const migrateOnly = { MIGRATE_ONLY: bool(false) };

const databaseUrl = z.string({ message: 'DATABASE_URL is required' }).regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must be a postgres:// URL');
const redisUrl = z.string({ message: 'REDIS_URL is required' }).regex(/^rediss?:\/\//, 'REDIS_URL must be a redis:// URL');

/** Where the public API is reached (`https://push.example.com`): issuer, token URL and api_url derive from it. */
const publicUrl = url.transform((v) => v.replace(/\/+$/, ''));

const AES_KEY_HINT = 'must be 32 random bytes in base64, 44 characters (openssl rand -base64 32)';

/** An AES-256 key given as base64 (`openssl rand -base64 32`), or null when the text is not one. */
export function parseAes256Key(text: string): Buffer | null {
  const trimmed = text.trim();
  return /^[A-Za-z0-9+/]{43}=$/.test(trimmed) ? Buffer.from(trimmed, 'base64') : null;
}

export const AuthConfig = z
  .object({
    ...kafka,
    ...http,
    ...migrateOnly,
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    BOREALIS_PUBLIC_URL: publicUrl,
    BOREALIS_DEVICE_URL: z.string().regex(/^(tcp|tls|ws|wss):\/\//, 'BOREALIS_DEVICE_URL must be tcp://, tls://, ws:// or wss://'),
    BOREALIS_ADMIN_TOKEN: secret('BOREALIS_ADMIN_TOKEN'),
    AUTH_AUDIENCE: z.string().min(1).default('borealis-push'),
    ACCESS_TOKEN_TTL_SECONDS: accessTokenTtlSeconds,
    TOKEN_RATE_LIMIT_IP_BURST: positiveInt(300),
    TOKEN_RATE_LIMIT_IP_PER_SECOND: positiveInt(20),
    TOKEN_RATE_LIMIT_CLIENT_BURST: positiveInt(30),
    TOKEN_RATE_LIMIT_CLIENT_PER_SECOND: positiveInt(1),
    SESSION_TTL_SECONDS: positiveInt(12 * 3600),
    // Console logins and sign-ups (docs/auth.md): per source address, and password hashing bounds.
    LOGIN_RATE_LIMIT_IP_BURST: positiveInt(30),
    LOGIN_RATE_LIMIT_IP_PER_SECOND: z.coerce.number().positive().default(0.5),
    SIGNUP_RATE_LIMIT_IP_BURST: positiveInt(5),
    SIGNUP_RATE_LIMIT_IP_PER_SECOND: z.coerce.number().positive().default(1 / 60),
    // Who may sign up for a console account (docs/auth.md): by invitation only unless the operator opens it.
    SIGNUP_MODE: z.enum(['open', 'invitation', 'closed']).default('invitation'),
    PASSWORD_HASH_CONCURRENCY: z.coerce.number().int().positive().optional(),
    PASSWORD_HASH_QUEUE: z.coerce.number().int().min(0).default(32),
    // The key that seals the access-token signing keys in the database: the value, or a file holding it (a mounted secret).
    SIGNING_KEY_ENCRYPTION_KEY: z
      .string()
      .optional()
      .refine((v) => v === undefined || parseAes256Key(v) !== null, `SIGNING_KEY_ENCRYPTION_KEY ${AES_KEY_HINT}`),
    SIGNING_KEY_ENCRYPTION_KEY_FILE: z.string().min(1).optional(),
    ...consoleSite,
    // The console's push-side routes (docs/auth.md): reads from push-core, the test send through the gateway.
    PUSH_CORE_URL: url.transform((v) => v.replace(/\/+$/, '')).optional(),
    GATEWAY_URL: url.transform((v) => v.replace(/\/+$/, '')).optional(),
    // name=url pairs whose /readyz and /metrics the operator overview reads; default: gateway and push-core above.
    CONSOLE_OVERVIEW_SERVICES: overviewServices,
  })
  .superRefine(kafkaSecurityRules)
  .superRefine((c, ctx) => {
    const given = [c.SIGNING_KEY_ENCRYPTION_KEY, c.SIGNING_KEY_ENCRYPTION_KEY_FILE].filter((v) => v !== undefined).length;
    if (given !== 1) {
      const message = `set exactly one of SIGNING_KEY_ENCRYPTION_KEY and SIGNING_KEY_ENCRYPTION_KEY_FILE: the key that encrypts the access-token signing keys at rest (${AES_KEY_HINT.replace('must be ', '')})`;
      ctx.addIssue({ code: 'custom', path: ['SIGNING_KEY_ENCRYPTION_KEY'], message });
      return;
    }
    if (c.SIGNING_KEY_ENCRYPTION_KEY_FILE === undefined) return;
    const problem = (() => {
      try {
        return parseAes256Key(readFileSync(c.SIGNING_KEY_ENCRYPTION_KEY_FILE, 'utf8')) ? null : `the file ${AES_KEY_HINT}`;
      } catch (err) {
        return `cannot read ${c.SIGNING_KEY_ENCRYPTION_KEY_FILE} (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
      }
    })();
    if (problem) ctx.addIssue({ code: 'custom', path: ['SIGNING_KEY_ENCRYPTION_KEY_FILE'], message: problem });
  });
export type AuthConfig = z.infer<typeof AuthConfig>;

/** auth's signing-key encryption key from a validated configuration (the value, or the file's content). */
export function signingKeyEncryptionKey(c: AuthConfig): Buffer {
  const text = c.SIGNING_KEY_ENCRYPTION_KEY ?? readFileSync(c.SIGNING_KEY_ENCRYPTION_KEY_FILE ?? '', 'utf8');
  const key = parseAes256Key(text);
  if (!key) throw new Error(`SIGNING_KEY_ENCRYPTION_KEY ${AES_KEY_HINT}`);
  return key;
}

export const GatewayConfig = z.object({
  ...kafka,
  ...http,
  REDIS_URL: redisUrl,
  BOREALIS_PUBLIC_URL: publicUrl,
  AUTH_JWKS_URL: url,
  AUTH_AUDIENCE: z.string().min(1).default('borealis-push'),
  ACCESS_TOKEN_TTL_SECONDS: accessTokenTtlSeconds,
  PUSH_CORE_URL: url.transform((v) => v.replace(/\/+$/, '')),
  // A project quota may be fractional: 1 message a minute is 0.0167 per second.
  RATE_LIMIT_PER_SECOND: z.coerce.number().positive().default(10000),
  RATE_LIMIT_BURST: positiveInt(20000),
  RATE_LIMIT_IP_PER_SECOND: z.coerce.number().positive().default(1000),
  RATE_LIMIT_IP_BURST: positiveInt(2000),
  IDEMPOTENCY_TTL_SECONDS: positiveInt(86400),
}).superRefine(kafkaSecurityRules);
export type GatewayConfig = z.infer<typeof GatewayConfig>;

export const PushCoreConfig = z.object({
  ...kafka,
  ...http,
  ...migrateOnly,
  DATABASE_URL: databaseUrl,
  REDIS_URL: redisUrl,
  PUSH_FANOUT_CHUNK_SIZE: positiveInt(5000).pipe(z.number().max(50_000)),
  PUSH_SWEEP_INTERVAL_MS: positiveInt(30_000),
  PUSH_RETENTION_HOURS: positiveInt(7 * 24),
  PUSH_STALE_REGISTRATION_DAYS: positiveInt(270),
  PUSH_UNCONFIRMED_REGISTRATION_HOURS: positiveInt(24),
}).superRefine(kafkaSecurityRules);
export type PushCoreConfig = z.infer<typeof PushCoreConfig>;

export const TransportConfig = z.object({
  ...kafka,
  ...http,
  REDIS_URL: redisUrl,
  TRANSPORT_INSTANCE_ID: z
    .string({ message: 'TRANSPORT_INSTANCE_ID is required (stable per instance, e.g. the StatefulSet pod name)' })
    .refine(isValidInstanceId, 'TRANSPORT_INSTANCE_ID must be lowercase letters, digits and dashes (at most 63)'),
  DEVICE_HOST: z.string().default('0.0.0.0'),
  DEVICE_PORT: port(5228),
  DEVICE_CREDENTIAL_SECRET: secret('DEVICE_CREDENTIAL_SECRET'),
  HEARTBEAT_INTERVAL_MS: positiveInt(30000),
  REGISTRATION_TIMEOUT_MS: positiveInt(10000),
  // Device transport options (docs/configuration.md, docs/protocol.md).
  DEVICE_CREDENTIAL_PREVIOUS_SECRETS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .refine((list) => list.every((s) => s.length >= 32), 'DEVICE_CREDENTIAL_PREVIOUS_SECRETS must each be at least 32 characters'),
  DEVICE_CREDENTIAL_MAX_AGE_DAYS: positiveInt(365),
  DEVICE_TLS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  DEVICE_TLS_CERT_FILE: z.string().min(1).optional(),
  DEVICE_TLS_KEY_FILE: z.string().min(1).optional(),
  DEVICE_WS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  DEVICE_WS_TLS: bool(false),
  DEVICE_ACCEPT_RATE: positiveInt(2000),
  DEVICE_ACCEPT_BURST: z.coerce.number().int().positive().optional(),
  DEVICE_ACCEPT_SOURCE_RATE: z.coerce.number().positive().optional(),
  DEVICE_ACCEPT_SOURCE_BURST: z.coerce.number().int().positive().optional(),
  // Per source (an IPv4 address or an IPv6 /64), across its connections (docs/security.md, finding 5).
  DEVICE_ENROLL_SOURCE_RATE: z.coerce.number().positive().default(5),
  DEVICE_ENROLL_SOURCE_BURST: positiveInt(100),
  DEVICE_REGISTER_SOURCE_RATE: z.coerce.number().positive().default(100),
  DEVICE_REGISTER_SOURCE_BURST: positiveInt(2000),
  // Per-connection frame budgets (docs/protocol.md, Limits): whole frames per second, at most 1000.
  DEVICE_ACK_RATE: positiveInt(500).pipe(z.number().max(1000)),
  DEVICE_ACK_BURST: positiveInt(4000).pipe(z.number().min(1000, 'DEVICE_ACK_BURST must be at least 1000 (the ids of one Ack)')),
  DEVICE_PING_RATE: positiveInt(2).pipe(z.number().max(1000)),
  DEVICE_PING_BURST: positiveInt(20),
  DEVICE_REQUEST_RATE: positiveInt(5).pipe(z.number().max(1000)),
  DEVICE_REQUEST_BURST: positiveInt(100),
  DEVICE_MAX_CONNECTIONS: positiveInt(1_000_000),
  DEVICE_MAX_UNSENT_BYTES: positiveInt(256 * 1024),
  // Priority and coalescing (docs/delivery.md): the write queue's threshold, the normal-push window (0 = off).
  DEVICE_WRITE_HIGH_WATER_BYTES: positiveInt(16 * 1024),
  DEVICE_COALESCE_MS: z.coerce.number().int().min(0).max(10_000).default(0),
  DEVICE_GOAWAY_SPREAD_MS: positiveInt(5000),
  DEVICE_DRAIN_GRACE_MS: positiveInt(2000),
  DEVICE_SENT_RECEIPT_HOLD_MS: z.coerce.number().int().min(0).max(10_000).default(1000),
}).superRefine(kafkaSecurityRules);
export type TransportConfig = z.infer<typeof TransportConfig>;

export const StandaloneConfig = z.object({
  BOREALIS_HOST: z.string().default('127.0.0.1'),
  BOREALIS_HTTP_PORT: port(8080),
  BOREALIS_DEVICE_PORT: port(5228),
  BOREALIS_DATA_DIR: z.string().min(1).default('.data'),
  /** Public base URL written into settings files; defaults to http://BOREALIS_HOST:BOREALIS_HTTP_PORT. */
  BOREALIS_PUBLIC_URL: publicUrl.optional(),
  BOREALIS_DEVICE_URL: z.string().optional(),
  RATE_LIMIT_PER_SECOND: positiveInt(10000),
  RATE_LIMIT_BURST: positiveInt(20000),
  RATE_LIMIT_IP_PER_SECOND: z.coerce.number().positive().default(1000),
  RATE_LIMIT_IP_BURST: positiveInt(2000),
  ACCESS_TOKEN_TTL_SECONDS: accessTokenTtlSeconds,
  HEARTBEAT_INTERVAL_MS: positiveInt(30000),
  BOREALIS_DEVICE_WS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  BOREALIS_DEVICE_TLS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  BOREALIS_DEVICE_TLS_CERT_FILE: z.string().min(1).optional(),
  BOREALIS_DEVICE_TLS_KEY_FILE: z.string().min(1).optional(),
  // Per source (an IPv4 address or an IPv6 /64), across its connections (docs/security.md, finding 5).
  DEVICE_ENROLL_SOURCE_RATE: z.coerce.number().positive().default(5),
  DEVICE_ENROLL_SOURCE_BURST: positiveInt(100),
  DEVICE_REGISTER_SOURCE_RATE: z.coerce.number().positive().default(100),
  DEVICE_REGISTER_SOURCE_BURST: positiveInt(2000),
  // Priority and coalescing in the transport, as for the transport service (docs/delivery.md).
  DEVICE_WRITE_HIGH_WATER_BYTES: positiveInt(16 * 1024),
  DEVICE_COALESCE_MS: z.coerce.number().int().min(0).max(10_000).default(0),
  // One machine, on 127.0.0.1 by default: anyone who reaches it may sign up unless closed.
  SIGNUP_MODE: z.enum(['open', 'invitation', 'closed']).default('open'),
  BOREALIS_PRINT_READY_JSON: bool(false),
  ...consoleSite,
  TRUST_PROXY: trustProxy,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
});
export type StandaloneConfig = z.infer<typeof StandaloneConfig>;

export type ServiceName = 'auth' | 'gateway' | 'push-core' | 'transport';
export const SERVICE_NAMES: readonly ServiceName[] = ['auth', 'gateway', 'push-core', 'transport'];
