export {
  DEFAULT_TEST_DATABASE_URL,
  DEFAULT_TEST_REDIS_URL,
  createTestDatabase,
  expectEventually,
  freePort,
  requireKafka,
  requirePostgres,
  requireRedis,
} from './services';
export type { EventuallyOptions, TestDatabase } from './services';
export { CLI, JsonLineProcess, REPO_ROOT, runCli, startCli } from './processes';
export { startOwnKafkaBroker } from './own-broker';
