export { GatewayModule } from './gateway.module';
export type { BucketLimit, GatewayModuleOptions } from './gateway-options';
export { IdempotencyStore, MemoryIdempotencyStore, RedisIdempotencyStore, type IdempotencyRecord } from './idempotency/idempotency-store';
export { OPENAPI_DOCUMENT } from './openapi/openapi-document';
export { HttpProjectStatsReader, ProjectStatsReader } from './stats/project-stats-reader';
export { HttpMessageStatusReader, MessageStatusReader } from './status/message-status-reader';
export { HttpRegistrationReader, RegistrationReader } from './registrations/registration-reader';
export { HttpMessageListReader, MessageListReader, type MessageListParams } from './status/message-list-reader';
