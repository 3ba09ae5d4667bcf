import Redis from 'ioredis';
import { MemoryPresenceStore, MemoryRateLimiter, MemoryReplayGuard, RedisPresenceStore, RedisRateLimiter, RedisReplayGuard } from '@borealis/keyvalue';
import { InProcessMessageBus, KafkaMessageBus } from '@borealis/messaging';
import { SystemClock } from '@borealis/util';
import { useJsonLogs } from './http';
import { kafkaSecurity, type KafkaSecurityEnv } from './kafka-security';
import { Metrics } from './metrics';
import type { PlatformDrivers } from './platform.module';

export interface KafkaEnv extends KafkaSecurityEnv {
  KAFKA_BROKERS: string[];
  KAFKA_CLIENT_ID?: string | undefined;
  KAFKA_TOPIC_CREATION: 'admin' | 'auto';
  KAFKA_TOPIC_PARTITIONS: number;
  KAFKA_REPLICATION_FACTOR: number;
  KAFKA_SESSION_TIMEOUT_MS: number;
  KAFKA_HEARTBEAT_INTERVAL_MS: number;
  KAFKA_MAX_WAIT_MS: number;
  KAFKA_REQUEST_TIMEOUT_MS: number;
  KAFKA_IDEMPOTENT: boolean;
  KAFKA_MAX_REQUEST_BYTES: number;
}

/** Distributed mode: Kafka and Redis. */
export function distributedDrivers(service: string, config: KafkaEnv & { REDIS_URL: string; SHUTDOWN_DELAY_MS?: number }): PlatformDrivers {
  useJsonLogs(service);
  // First: a certificate or password file that cannot be read stops the start with exit code 2.
  const security = kafkaSecurity(config);
  const metrics = new Metrics({ service });
  // Auto-pipelining: the commands of one event-loop turn (many requests' rate-limit checks) leave
  // in one write; a write per command costs more CPU than the command itself under load.
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2, enableOfflineQueue: true, lazyConnect: false, enableAutoPipelining: true });
  // Errors surface on the commands; the client reconnects by itself.
  redis.on('error', () => undefined);
  const bus = new KafkaMessageBus({
    brokers: config.KAFKA_BROKERS,
    clientId: config.KAFKA_CLIENT_ID ?? `borealis-${service}`,
    topicCreation: config.KAFKA_TOPIC_CREATION,
    partitions: config.KAFKA_TOPIC_PARTITIONS,
    replicationFactor: config.KAFKA_REPLICATION_FACTOR,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
    heartbeatIntervalMs: config.KAFKA_HEARTBEAT_INTERVAL_MS,
    maxWaitTimeMs: config.KAFKA_MAX_WAIT_MS,
    requestTimeoutMs: config.KAFKA_REQUEST_TIMEOUT_MS,
    idempotent: config.KAFKA_IDEMPOTENT,
    maxRequestBytes: config.KAFKA_MAX_REQUEST_BYTES,
    ...security,
    observer: metrics.busObserver(),
  });
  return {
    bus,
    presence: new RedisPresenceStore(redis),
    rateLimiter: new RedisRateLimiter(redis),
    replayGuard: new RedisReplayGuard(redis),
    clock: new SystemClock(),
    metrics,
    shutdownDelayMs: config.SHUTDOWN_DELAY_MS ?? 0,
    readinessChecks: [{ name: 'redis', ready: () => redis.status === 'ready' }],
    close: async () => {
      redis.disconnect();
    },
  };
}

/** Standalone mode: everything in this process. */
export function standaloneDrivers(close?: () => Promise<void>): PlatformDrivers {
  const clock = new SystemClock();
  const metrics = new Metrics({ service: 'standalone' });
  return {
    bus: new InProcessMessageBus({ observer: metrics.busObserver() }),
    metrics,
    presence: new MemoryPresenceStore(clock),
    rateLimiter: new MemoryRateLimiter(clock),
    replayGuard: new MemoryReplayGuard(clock),
    clock,
    ...(close ? { close } : {}),
  };
}
