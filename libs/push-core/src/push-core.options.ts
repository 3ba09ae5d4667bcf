export interface PushCoreModuleOptions {
  /** The Push DB (PostgreSQL), owned by push-core alone. */
  databaseUrl: string;
  /** Serve the internal status and stats API under `/internal/v1` (distributed mode). */
  exposeInternalApi: boolean;
  /** Prefix of this module's consumer groups; default `borealis.push-core`. */
  consumerGroupPrefix?: string;
  /** Recipients a group fan-out resolves, stores and routes per step. */
  fanOutChunkSize?: number;
  /** How often an instance looks for fan-outs left by a crashed instance, and runs the sweeper. */
  sweepIntervalMs?: number;
  /** Messages (with their deliveries) are purged this long after they expired. */
  retentionMs?: number;
  /** A live registration not seen (registrate or connect) for this long is unregistered. */
  staleRegistrationMs?: number;
  /**
   * A registration whose device has not connected again since it registered (and is not online)
   * is unregistered this long after it was made (docs/security.md, finding 5).
   */
  unconfirmedRegistrationMs?: number;
}

export const PUSH_CORE_OPTIONS = Symbol('PUSH_CORE_OPTIONS');

export const DEFAULT_CONSUMER_GROUP_PREFIX = 'borealis.push-core';

const DAY_MS = 86_400_000;

export type PushCoreTuning = Required<Pick<PushCoreModuleOptions, 'fanOutChunkSize' | 'sweepIntervalMs' | 'retentionMs' | 'staleRegistrationMs' | 'unconfirmedRegistrationMs'>>;

export const DEFAULT_TUNING: PushCoreTuning = {
  fanOutChunkSize: 5000,
  sweepIntervalMs: 30_000,
  retentionMs: 7 * DAY_MS,
  // FCM's period for inactive registrations.
  staleRegistrationMs: 270 * DAY_MS,
  // Long enough for a real device to come back (its next connection confirms it), short enough
  // that made-up devices' registrations do not pile up.
  unconfirmedRegistrationMs: DAY_MS,
};

/** Live registrations one device may hold, over all its users and apps: what one enrollment can make. */
export const MAX_LIVE_REGISTRATIONS_PER_DEVICE = 1000;

export function tuningOf(options: PushCoreModuleOptions): PushCoreTuning {
  return {
    fanOutChunkSize: options.fanOutChunkSize ?? DEFAULT_TUNING.fanOutChunkSize,
    sweepIntervalMs: options.sweepIntervalMs ?? DEFAULT_TUNING.sweepIntervalMs,
    retentionMs: options.retentionMs ?? DEFAULT_TUNING.retentionMs,
    staleRegistrationMs: options.staleRegistrationMs ?? DEFAULT_TUNING.staleRegistrationMs,
    unconfirmedRegistrationMs: options.unconfirmedRegistrationMs ?? DEFAULT_TUNING.unconfirmedRegistrationMs,
  };
}
