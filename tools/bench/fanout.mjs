// Fan-out benchmark: one `application` message to N registrations (half online, spread over
// several transport instances; half offline). Measures the time from publishing the accepted
// message until every online device's delivery is on its transport's inbox (consumed there) and
// every offline device has a pending row; recipients per second; CPU time of push-core and of the
// PostgreSQL backends serving it per run (steadier than elapsed time on a shared machine); peak
// RSS of push-core.
//
// push-core runs as its own process (distributed mode) on the Kafka-protocol test broker (kcat
// mock), PostgreSQL and Redis. Registrations and presence are seeded directly; the transports are
// stand-in Kafka consumers of their inbox topics (see docs/benchmarks.md for what that leaves out).
//
//   npm run bench -- fanout [--recipients 100000] [--transports 4] [--runs 3]
//                           [--dist DIR] (another compiled tree, e.g. a copy of dist/ as a baseline)
//                           [--cpu-prof DIR] (push-core writes a V8 CPU profile there on exit)
//                           [--core-flags="--flag ..."] (push-core's Node flags; default as its Dockerfile)
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    recipients: { type: 'string', default: '100000' },
    transports: { type: 'string', default: '4' },
    runs: { type: 'string', default: '3' },
    dist: { type: 'string', default: path.join(ROOT, 'dist') },
    'cpu-prof': { type: 'string' },
    // As apps/push-core/Dockerfile starts it.
    'core-flags': { type: 'string', default: '--max-semi-space-size=64' },
  },
});
const N = Number(values.recipients);
const TRANSPORTS = Number(values.transports);
const RUNS = Number(values.runs);
const PG = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS = process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379';
const cleanups = [];

function log(line) {
  process.stderr.write(`[fanout] ${line}\n`);
}

async function startBroker() {
  const child = spawn('kcat', ['-b', 'unused:1', '-X', 'test.mock.num.brokers=1', '-C', '-t', 'KEEPALIVE', '-o', 'end', '-q'], { stdio: ['ignore', 'ignore', 'pipe'] });
  cleanups.push(() => child.kill());
  let seen = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      seen += chunk;
      const m = /bootstrap\.servers=(127\.0\.0\.1:\d+)/.exec(seen) || /replaced with (127\.0\.0\.1:\d+)/.exec(seen);
      if (m) resolve(m[1]);
    });
    child.on('exit', () => reject(new Error(`kcat exited: ${seen}`)));
  });
}

function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function until(probe, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function peakRssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)[1]) / 1024;
}

/** CPU time (user + system) a process has used, in ms (Linux clock ticks of 10 ms). */
function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0; // gone meanwhile
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main() {
  const brokers = await startBroker();
  const admin = new pg.Client({ connectionString: PG });
  await admin.connect();
  const dbName = `bench_fanout_${process.pid}`;
  await admin.query(`CREATE DATABASE ${dbName}`);
  cleanups.push(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  });
  const dbUrl = new URL(PG);
  dbUrl.pathname = `/${dbName}`;

  const port = await freePort();
  const profile = values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(values['cpu-prof'])] : [];
  const flags = values['core-flags'].split(' ').filter(Boolean);
  const core = spawn(process.execPath, [...flags, ...profile, path.join(path.resolve(values.dist), 'apps/cli/src/main.js'), 'serve', '--service', 'push-core'], {
    cwd: ROOT,
    env: {
      ...process.env,
      KAFKA_BROKERS: brokers,
      KAFKA_TOPIC_CREATION: 'auto',
      KAFKA_MAX_WAIT_MS: '50',
      KAFKA_SESSION_TIMEOUT_MS: '10000',
      DATABASE_URL: dbUrl.toString(),
      REDIS_URL: REDIS,
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(port),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  // Stopped before the broker and the database go away (SIGTERM lets a CPU profile be written).
  cleanups.unshift(async () => {
    const exited = new Promise((resolve) => core.once('exit', resolve));
    core.kill('SIGTERM');
    const timer = setTimeout(() => core.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  });
  await until(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, 90_000, 'push-core ready');
  log(`push-core ready (pid ${core.pid})`);

  const db = new pg.Client({ connectionString: dbUrl.toString() });
  await db.connect();
  cleanups.unshift(() => db.end());
  const projectId = 'bench-project';
  const applicationId = 'bench-app';
  await db.query(`INSERT INTO registry_projects VALUES ($1, true, 1)`, [projectId]);
  await db.query(`INSERT INTO registry_applications VALUES ($1, $2, true, 1)`, [applicationId, projectId]);
  const now = Date.now();
  await db.query(
    `INSERT INTO registrations (id, project_id, application_id, device_id, created_at_ms, last_seen_at_ms)
     SELECT md5('reg' || i), $1, $2, 'bdev-' || i, $3, $3 FROM generate_series(0, $4 - 1) AS i`,
    [projectId, applicationId, now, N],
  );
  await db.query('ANALYZE');
  const instances = Array.from({ length: TRANSPORTS }, (_, i) => `bench-t${i}`);
  const redis = new Redis(REDIS);
  cleanups.unshift(() => redis.quit());
  const pipeline = redis.pipeline();
  for (let i = 0; i < N; i += 2) pipeline.set(`borealis:presence:bdev-${i}`, instances[(i / 2) % TRANSPORTS], 'EX', 3600);
  await pipeline.exec();
  log(`seeded ${N} registrations, ${N / 2} online over ${TRANSPORTS} transport instances`);

  const kafka = new Kafka({ clientId: 'bench', brokers: [brokers], logLevel: logLevel.NOTHING });
  const received = new Map();
  const consumers = await Promise.all(
    instances.map(async (instanceId) => {
      const consumer = kafka.consumer({ groupId: `bench.${instanceId}`, maxWaitTimeInMs: 20, sessionTimeout: 10000 });
      const joined = new Promise((resolve) => consumer.on(consumer.events.GROUP_JOIN, resolve));
      await consumer.connect();
      await consumer.subscribe({ topic: `borealis.transport.inbox.${instanceId}.v1`, fromBeginning: true });
      await consumer.run({
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) {
            const id = JSON.parse(m.value.toString()).messageId;
            received.set(id, (received.get(id) ?? 0) + 1);
          }
        },
      });
      await joined;
      return consumer;
    }),
  );
  cleanups.unshift(() => Promise.all(consumers.map((c) => c.disconnect())));
  const producer = kafka.producer();
  await producer.connect();
  cleanups.unshift(() => producer.disconnect());

  const results = [];
  for (let run = 0; run < RUNS; run++) {
    const messageId = `bench-${process.pid}-${run}-${Date.now()}`;
    const acceptedAtMs = Date.now();
    const value = {
      messageId,
      projectId,
      target: { type: 'application', value: applicationId },
      notification: { title: 'Fan-out', message: 'to everyone', data: '{"bench":true}' },
      ttlSeconds: 3600,
      priority: 'normal',
      collapseKey: null,
      acceptedAtMs,
      expiresAtMs: acceptedAtMs + 3600_000,
    };
    // CPU is less at the mercy of other work on the machine than elapsed time: push-core's, and
    // that of the PostgreSQL backends serving it (its pool; not this script's own connection).
    const backends = async () => (await db.query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)).rows.map((r) => r.pid);
    const cpuBefore = { core: cpuMs(core.pid), pg: new Map((await backends()).map((pid) => [pid, cpuMs(pid)])) };
    const t0 = performance.now();
    await producer.send({ topic: 'borealis.push.message.accepted.v1', acks: -1, messages: [{ key: `${projectId}:application:${applicationId}`, value: JSON.stringify(value) }] });
    let onlineMs = null;
    let storedMs = null;
    await until(
      async () => {
        if (onlineMs === null && (received.get(messageId) ?? 0) >= N / 2) onlineMs = performance.now() - t0;
        if (storedMs === null) {
          // Cheap to poll (counting 100,000 rows every few ms would compete with push-core for the
          // CPU): the message is stored and its fan-out job is gone, so every chunk is committed.
          const { rows } = await db.query(
            `SELECT EXISTS (SELECT 1 FROM messages WHERE id = $1) AND NOT EXISTS (SELECT 1 FROM fanout_jobs WHERE message_id = $1) AS done`,
            [messageId],
          );
          if (rows[0].done) storedMs = performance.now() - t0;
        }
        return onlineMs !== null && storedMs !== null;
      },
      300_000,
      `run ${run}`,
    );
    const { rows: stored } = await db.query(`SELECT count(*)::int AS n FROM deliveries WHERE message_id = $1 AND state = 'pending'`, [messageId]);
    if (stored[0].n !== N) throw new Error(`run ${run}: ${stored[0].n} pending deliveries stored, expected ${N}`);
    const totalMs = Math.max(onlineMs, storedMs);
    const pgCpuMs = (await backends()).reduce((sum, pid) => sum + cpuMs(pid) - (cpuBefore.pg.get(pid) ?? 0), 0);
    const result = {
      run,
      recipients: N,
      onlineMs: Math.round(onlineMs),
      allStoredMs: Math.round(storedMs),
      totalMs: Math.round(totalMs),
      recipientsPerSecond: Math.round(N / (totalMs / 1000)),
      pushCoreCpuMs: cpuMs(core.pid) - cpuBefore.core,
      postgresCpuMs: pgCpuMs,
    };
    log(JSON.stringify(result));
    results.push(result);
  }
  const summary = {
    bench: 'fanout',
    recipients: N,
    online: N / 2,
    transports: TRANSPORTS,
    runs: RUNS,
    medianTotalMs: median(results.map((r) => r.totalMs)),
    medianOnlineMs: median(results.map((r) => r.onlineMs)),
    medianRecipientsPerSecond: median(results.map((r) => r.recipientsPerSecond)),
    medianPushCoreCpuMs: median(results.map((r) => r.pushCoreCpuMs)),
    medianPostgresCpuMs: median(results.map((r) => r.postgresCpuMs)),
    pushCorePeakRssMb: Math.round(peakRssMb(core.pid)),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memGb: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadavg: os.loadavg().map((l) => l.toFixed(2)) },
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

main()
  .catch((err) => {
    process.stderr.write(`[fanout] failed: ${err.stack ?? err}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const cleanup of cleanups) await Promise.resolve(cleanup()).catch(() => undefined);
    process.exit();
  });
