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
export { startOwnKafkaBroker, type OwnKafkaBroker } from './own-broker';
export { startKafkaBroker, ensureKafkaJars, type KafkaBrokerHandle, type KafkaSaslSslListener, type KafkaSslListener } from './kafka-broker';
export { kafkaSaslSsl, kafkaSsl } from './services';
