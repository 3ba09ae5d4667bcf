export * from './ports';
export { MemoryPresenceStore, MemoryRateLimiter, MemoryReplayGuard } from './memory';
export { RedisPresenceStore, RedisRateLimiter, RedisReplayGuard } from './redis';
