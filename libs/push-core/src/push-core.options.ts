import { z } from 'zod';

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
}

export const PUSH_CORE_OPTIONS = Symbol('PUSH_CORE_OPTIONS');

export const DEFAULT_CONSUMER_GROUP_PREFIX = 'borealis.push-core';

const DAY_MS = 86_400_000;

export type PushCoreTuning = Required<Pick<PushCoreModuleOptions, 'fanOutChunkSize' | 'sweepIntervalMs' | 'retentionMs' | 'staleRegistrationMs'>>;

export const DEFAULT_TUNING: PushCoreTuning = {
  fanOutChunkSize: 5000,
  sweepIntervalMs: 30_000,
  retentionMs: 7 * DAY_MS,
  // FCM's period for inactive registrations.
  staleRegistrationMs: 270 * DAY_MS,
};

export function tuningOf(options: PushCoreModuleOptions): PushCoreTuning {
  return {
    fanOutChunkSize: options.fanOutChunkSize ?? DEFAULT_TUNING.fanOutChunkSize,
    sweepIntervalMs: options.sweepIntervalMs ?? DEFAULT_TUNING.sweepIntervalMs,
    retentionMs: options.retentionMs ?? DEFAULT_TUNING.retentionMs,
    staleRegistrationMs: options.staleRegistrationMs ?? DEFAULT_TUNING.staleRegistrationMs,
  };
}

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** push-core's own environment variables (distributed mode), on top of the platform's. */
export const PushCoreTuningConfig = z
  .object({
    PUSH_FANOUT_CHUNK_SIZE: positiveInt(DEFAULT_TUNING.fanOutChunkSize).pipe(z.number().max(50_000)),
    PUSH_SWEEP_INTERVAL_MS: positiveInt(DEFAULT_TUNING.sweepIntervalMs),
    PUSH_RETENTION_HOURS: positiveInt(DEFAULT_TUNING.retentionMs / 3600_000),
    PUSH_STALE_REGISTRATION_DAYS: positiveInt(DEFAULT_TUNING.staleRegistrationMs / DAY_MS),
  })
  .transform(
    (c): PushCoreTuning => ({
      fanOutChunkSize: c.PUSH_FANOUT_CHUNK_SIZE,
      sweepIntervalMs: c.PUSH_SWEEP_INTERVAL_MS,
      retentionMs: c.PUSH_RETENTION_HOURS * 3600_000,
      staleRegistrationMs: c.PUSH_STALE_REGISTRATION_DAYS * DAY_MS,
    }),
  );
