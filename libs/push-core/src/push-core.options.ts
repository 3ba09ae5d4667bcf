export interface PushCoreModuleOptions {
  /** The Push DB (PostgreSQL), owned by push-core alone. */
  databaseUrl: string;
  /** Serve `GET /internal/v1/projects/:projectId/messages/:messageId` (distributed mode). */
  exposeInternalApi: boolean;
  /** Prefix of this module's consumer groups; default `borealis.push-core`. */
  consumerGroupPrefix?: string;
}

export const PUSH_CORE_OPTIONS = Symbol('PUSH_CORE_OPTIONS');

export const DEFAULT_CONSUMER_GROUP_PREFIX = 'borealis.push-core';
