// Helpers for integration and e2e tests: the external services prepared by global-setup.js
// (the Kafka broker, PostgreSQL, Redis), throwaway databases, polling assertions, free ports.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Client } from 'pg';
import type { KafkaSaslSslListener, KafkaSslListener } from './kafka-broker';

export const DEFAULT_TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
export const DEFAULT_TEST_REDIS_URL = 'redis://127.0.0.1:6379';

/** The Kafka bootstrap servers (`host:port[,host:port]`) for tests; throws if there is no broker. */
export function requireKafka(): string {
  const missing = process.env['BOREALIS_TEST_KAFKA_MISSING'];
  if (missing) throw new Error(missing);
  const brokers = process.env['KAFKA_BROKERS'];
  if (!brokers) {
    throw new Error(
      'No Kafka broker for the tests: KAFKA_BROKERS is not set and the Jest globalSetup ' +
        '(libs/testing/src/global-setup.js) did not run; run the tests through the root jest.config.js ' +
        '(it starts a real Kafka broker: Java 17+ and Maven needed) or set KAFKA_BROKERS',
    );
  }
  return brokers;
}

function listener<T>(variable: string, what: string): T {
  requireKafka();
  const json = process.env[variable];
  if (!json) throw new Error(`No ${what} listener for the tests: ${variable} is not set (the test broker was given by KAFKA_BROKERS, not started by the Jest global setup)`);
  return JSON.parse(json) as T;
}

/** The test broker's SASL_SSL listener: address, CA file, PLAIN and SCRAM credentials. */
export function kafkaSaslSsl(): KafkaSaslSslListener {
  return listener('BOREALIS_TEST_KAFKA_SASL_SSL', 'SASL_SSL');
}

/** The test broker's SSL listener, which requires a client certificate (mutual TLS). */
export function kafkaSsl(): KafkaSslListener {
  return listener('BOREALIS_TEST_KAFKA_SSL', 'SSL');
}

/** The URL of the test PostgreSQL server's maintenance database; throws if it is unreachable. */
export function requirePostgres(): string {
  const missing = process.env['BOREALIS_TEST_POSTGRES_MISSING'];
  if (missing) throw new Error(missing);
  return process.env['TEST_DATABASE_URL'] || DEFAULT_TEST_DATABASE_URL;
}

/** The URL of the test Redis server; throws if it is unreachable. */
export function requireRedis(): string {
  const missing = process.env['BOREALIS_TEST_REDIS_MISSING'];
  if (missing) throw new Error(missing);
  return process.env['TEST_REDIS_URL'] || DEFAULT_TEST_REDIS_URL;
}

export interface TestDatabase {
  /** Connection URL of the new database (same server, user and options as the test server). */
  url: string;
  /** Database name. */
  name: string;
  /** Terminates its connections and drops it; safe to call more than once. */
  drop(): Promise<void>;
}

/**
 * Creates a fresh, uniquely named database on the test PostgreSQL server. Call `drop()` in
 * `afterAll` (it terminates remaining connections first).
 */
export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const serverUrl = requirePostgres();
  const safePrefix =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .slice(0, 30) || 'test';
  const name = `t_${safePrefix}_${process.pid}_${randomBytes(5).toString('hex')}`;

  await withAdminClient(serverUrl, async (client) => {
    for (let attempt = 0; ; attempt++) {
      try {
        await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
        return;
      } catch (err) {
        // 55006: "source database template1 is being accessed by other users" (parallel creates).
        if ((err as { code?: string }).code !== '55006' || attempt >= 20) throw err;
        await sleep(50 + Math.random() * 100);
      }
    }
  });

  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    async drop() {
      if (dropped) return;
      await withAdminClient(serverUrl, async (client) => {
        for (let attempt = 0; ; attempt++) {
          await client.query(
            'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
            [name],
          );
          try {
            await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
            return;
          } catch (err) {
            // 55006: a client reconnected between terminate and drop; terminate again.
            if ((err as { code?: string }).code !== '55006' || attempt >= 20) throw err;
            await sleep(50);
          }
        }
      });
      dropped = true;
    },
  };
}

async function withAdminClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export interface EventuallyOptions {
  /** Total time to keep trying, default 10,000 ms. */
  timeoutMs?: number;
  /** Pause between attempts, default 50 ms. */
  intervalMs?: number;
  /** Prefix of the error thrown on timeout. */
  message?: string;
}

/**
 * Calls `probe` until it returns (or resolves) without throwing and returns that value; on timeout
 * throws an Error carrying the last failure (message and `cause`). Use it for asynchronous effects:
 * `await expectEventually(() => expect(received).toHaveLength(3))`.
 */
export async function expectEventually<T>(
  probe: () => Promise<T> | T,
  opts: EventuallyOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 50;
  const started = Date.now();
  const deadline = started + timeoutMs;
  let attempts = 0;
  let lastError: unknown;
  for (;;) {
    attempts++;
    try {
      return await probe();
    } catch (err) {
      lastError = err;
    }
    const left = deadline - Date.now();
    if (left <= 0) break;
    await sleep(Math.min(intervalMs, left));
  }
  const last = lastError instanceof Error ? lastError.message : String(lastError);
  const error = new Error(
    `${opts.message ?? 'expectEventually: condition not met'} within ${timeoutMs} ms (${attempts} attempts); last error: ${last}`,
    { cause: lastError },
  );
  if (lastError instanceof Error && lastError.stack) {
    error.stack = `${error.stack}\nLast error: ${lastError.stack}`;
  }
  throw error;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('freePort: no TCP address'));
        return;
      }
      server.close((err) => (err ? reject(err) : resolve(address.port)));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
