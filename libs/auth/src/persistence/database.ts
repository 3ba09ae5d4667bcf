/** PostgreSQL advisory lock ids in auth's own database; one place so that no two uses collide. */
export const AdvisoryLock = {
  /** Held while creating the first signing key, so that replicas starting together create one. */
  signingKeys: 7_305_001,
  /** Held by the one replica that relays the registry outbox, so that events leave in order. */
  registryOutbox: 7_305_002,
} as const;

/** The name of auth's TypeORM connection (several services may share one process). */
export const AUTH_CONNECTION = 'auth';
