// Jest globalSetup (root jest.config.js): makes the external services of the *.int.ts and *.e2e.ts
// tests available, or records why they are not, without failing the run (unit tests need none).
//
// - Kafka: KAFKA_BROKERS as given; else librdkafka's mock cluster through `kcat` (a real
//   Kafka-protocol broker on loopback, `apt-get install -y kcat`; see docs/topics.md); else
//   BOREALIS_TEST_KAFKA_MISSING explains what to install.
// - PostgreSQL (TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres) and
//   Redis (TEST_REDIS_URL, default redis://127.0.0.1:6379) are probed with a short timeout;
//   BOREALIS_TEST_POSTGRES_MISSING / BOREALIS_TEST_REDIS_MISSING are set when unreachable.
//
// Environment set here reaches the test workers (they are started afterwards) and, with
// --runInBand, the tests in this process. libs/testing/src/services.ts reads it.
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const PROBE_TIMEOUT_MS = 2000;
const KAFKA_START_TIMEOUT_MS = 15000;
const STATE_KEY = '__BOREALIS_TEST_SERVICES__';

const log = (line) => process.stderr.write(`[borealis test services] ${line}\n`);

function onPath(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

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
 * Starts `kcat` with librdkafka's mock cluster and resolves with its bootstrap address.
 * kcat runs under a small `sh` watchdog in its own process group: the watchdog kills kcat when
 * its stdin (a pipe from this process) closes, so the broker also dies when Jest is SIGKILLed.
 */
function startMockBroker() {
  const kcatArgs = ['-b', 'unused:1', '-X', 'test.mock.num.brokers=1', '-C', '-t', 'KEEPALIVE', '-o', 'end', '-q'];
  // The port is printed as a notice without debug logging; `-d mock` logs every request, which
  // is only useful while investigating (BOREALIS_KAFKA_MOCK_DEBUG=1, log in tmp/kafka-mock.log).
  const debugLog = process.env.BOREALIS_KAFKA_MOCK_DEBUG ? path.resolve('tmp', 'kafka-mock.log') : null;
  if (debugLog) kcatArgs.push('-d', 'mock');
  const script =
    'kcat "$@" & k=$!\n' +
    'trap \'kill "$k" 2>/dev/null\' EXIT INT TERM HUP\n' +
    'cat >/dev/null\n' +
    'kill "$k" 2>/dev/null\n' +
    'wait "$k"\n';
  const child = spawn('sh', ['-c', script, 'kcat-mock', ...kcatArgs], {
    detached: true,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let debugStream = null;
  if (debugLog) {
    fs.mkdirSync(path.dirname(debugLog), { recursive: true });
    debugStream = fs.createWriteStream(debugLog);
  }

  return new Promise((resolve, reject) => {
    let seen = '';
    let settled = false;
    const fail = (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      killGroup(child);
      reject(err);
    };
    const timer = setTimeout(
      () => fail(new Error(`kcat printed no mock cluster address within 5 s; its output: ${seen.slice(-500)}`)),
      5000,
    );
    child.on('error', fail);
    child.on('exit', (code, signal) => {
      if (!settled) fail(new Error(`kcat exited early (${signal ?? code}): ${seen.slice(-500)}`));
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      if (debugStream) debugStream.write(chunk);
      if (settled) return; // keep draining so kcat never blocks on a full pipe
      seen += chunk;
      const m =
        /bootstrap\.servers=(127\.0\.0\.1:\d+)/.exec(seen) || /replaced with (127\.0\.0\.1:\d+)/.exec(seen);
      if (m) {
        settled = true;
        clearTimeout(timer);
        // Neither the child nor its pipes may keep Jest's process alive.
        child.unref();
        child.stdin.unref?.();
        child.stderr.unref?.();
        resolve({ child, brokers: m[1] });
      }
    });
  });
}

function killGroup(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    try {
      child.kill('SIGTERM');
    } catch {
      /* already gone */
    }
  }
}

async function waitForKafka(brokers, timeoutMs) {
  const { Kafka, logLevel } = require('kafkajs');
  const kafka = new Kafka({
    clientId: 'borealis-test-setup',
    brokers: brokers.split(',').map((b) => b.trim()),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    retry: { retries: 0 },
  });
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    const producer = kafka.producer({ allowAutoTopicCreation: true });
    try {
      await withTimeout(producer.connect(), 3000, 'kafkajs connect');
      await producer.disconnect();
      return;
    } catch (err) {
      lastError = err;
      await producer.disconnect().catch(() => {});
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`kafkajs could not connect to ${brokers} within ${timeoutMs} ms: ${errorText(lastError)}`);
}

async function setupKafka(state) {
  if (process.env.KAFKA_BROKERS) {
    delete process.env.BOREALIS_TEST_KAFKA_MISSING;
    log(`Kafka: using KAFKA_BROKERS=${process.env.KAFKA_BROKERS}`);
    return;
  }
  if (!onPath('kcat')) {
    process.env.BOREALIS_TEST_KAFKA_MISSING =
      'No Kafka-protocol broker for the tests: install kcat (apt-get install -y kcat) or set KAFKA_BROKERS';
    log(`Kafka: ${process.env.BOREALIS_TEST_KAFKA_MISSING}`);
    return;
  }
  const started = Date.now();
  let child;
  try {
    const mock = await startMockBroker();
    child = mock.child;
    state.kcat = child;
    const killOnExit = () => killGroup(child);
    state.killOnExit = killOnExit;
    process.once('exit', killOnExit);
    await waitForKafka(mock.brokers, KAFKA_START_TIMEOUT_MS);
    process.env.KAFKA_BROKERS = mock.brokers;
    state.brokers = mock.brokers;
    delete process.env.BOREALIS_TEST_KAFKA_MISSING;
    log(`Kafka: librdkafka mock cluster (kcat pid ${child.pid}) at ${mock.brokers}, ready in ${Date.now() - started} ms`);
  } catch (err) {
    killGroup(child);
    process.env.BOREALIS_TEST_KAFKA_MISSING = `No Kafka-protocol broker for the tests: the kcat mock cluster did not start (${errorText(err)}); set KAFKA_BROKERS to use a real broker`;
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

async function setupPostgres() {
  const url = process.env.TEST_DATABASE_URL || DEFAULT_DATABASE_URL;
  try {
    await probePostgres(url);
    delete process.env.BOREALIS_TEST_POSTGRES_MISSING;
  } catch (err) {
    process.env.BOREALIS_TEST_POSTGRES_MISSING = `No PostgreSQL for the tests at ${redact(url)} (${errorText(err)}): start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set TEST_DATABASE_URL`;
    log(`PostgreSQL: ${process.env.BOREALIS_TEST_POSTGRES_MISSING}`);
  }
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
  await Promise.all([setupKafka(state), setupPostgres(), setupRedis()]);
};

module.exports.STATE_KEY = STATE_KEY;
module.exports.killGroup = killGroup;
