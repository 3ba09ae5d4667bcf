// Fan-out benchmark: one `application` message to N registrations, half online (real devices
// connected to several real transport processes) and half offline. Measures the time from
// publishing the accepted message until every online device has it (acknowledged it to its
// transport) and every offline registration has a pending row; recipients per second; CPU time
// per run of every process involved (push-core, its PostgreSQL backends, the transports, the
// devices' load generators, the Kafka broker), which is steadier than elapsed time on a shared
// machine; peak RSS of push-core, the transports, the load generators and the broker.
//
// Everything runs as its own OS process on a real Apache Kafka broker started here
// (libs/testing/src/kafka-broker.js; KAFKA_BROKERS names another one instead, whose CPU is then
// not counted), PostgreSQL and Redis: push-core and the transports (`borealis serve --service ...`, distributed mode), and
// one `borealis loadgen` per transport whose simulated SDK devices connect and `registrate()`
// through the real protocol. The offline half is seeded directly in the Push DB (registrations
// of devices that are not connected). `--stand-in` keeps the older push-core-only mode: all
// registrations and presence seeded, the transports replaced by Kafka consumers of their inboxes.
//
//   npm run build && npm run bench -- fanout [--recipients 100000] [--transports 4] [--runs 3]
//                           [--stand-in] (push-core alone, stand-in transports)
//                           [--rate 15] (devices connected per second by each load generator: each one
//                           registers through push-core; connecting faster than push-core answers builds a
//                           backlog whose answers come after the SDK's 30 s timeout, and the run stops.
//                           See docs/benchmarks.md)
//                           [--heartbeat-ms 30000] (the transports' heartbeat interval, which is also their
//                           presence refresh: the idle work per connected device)
//                           [--dist DIR] (another compiled tree, e.g. a copy of dist/ as a baseline)
//                           [--cpu-prof DIR] (push-core and the transports write V8 CPU profiles there on exit,
//                           CPU.<date>.<time>.<pid>...; the pids are in the log)
//                           [--core-flags="--flag ..."] (push-core's Node flags; default as its Dockerfile)
//                           [--broker-heap-mb 512] (the Kafka broker's JVM heap)
//
// Quick check: `npm run bench -- fanout --recipients 2000 --transports 2 --runs 1`.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { startBenchBroker } from './lib/broker.mjs';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    recipients: { type: 'string', default: '100000' },
    transports: { type: 'string', default: '4' },
    runs: { type: 'string', default: '3' },
    'stand-in': { type: 'boolean', default: false },
    rate: { type: 'string', default: '15' },
    'heartbeat-ms': { type: 'string', default: '30000' },
    dist: { type: 'string', default: path.join(ROOT, 'dist') },
    'cpu-prof': { type: 'string' },
    // As apps/push-core/Dockerfile starts it.
    'core-flags': { type: 'string', default: '--max-semi-space-size=64' },
    'broker-heap-mb': { type: 'string', default: '512' },
  },
});
const N = Number(values.recipients);
const TRANSPORTS = Number(values.transports);
const RUNS = Number(values.runs);
const STAND_IN = values['stand-in'];
const ONLINE = Math.floor(N / 2);
const OFFLINE = N - ONLINE;
/** This machine caps a process at 20,000 open files: at most 15,000 devices per transport and per load generator. */
const MAX_DEVICES_PER_PROCESS = 15_000;
/** How long the processes' idle CPU use is measured before each run. */
const IDLE_MS = 3000;
const PG = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS = process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379';
const CLI = path.join(path.resolve(values.dist), 'apps/cli/src/main.js');
const cleanups = [];

function log(line) {
  process.stderr.write(`[fanout] ${line}\n`);
}

/** A real Kafka broker of this run's own (stopped last), or the one KAFKA_BROKERS names. */
async function startBroker() {
  const broker = await startBenchBroker({ heapMb: Number(values['broker-heap-mb']), log });
  cleanups.push(broker.stop);
  return broker;
}

/** `count` distinct free ports (held open together, so that no two are the same). */
async function freePorts(count) {
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise((resolve) => { const server = createServer().listen(0, '127.0.0.1', () => resolve(server)); })));
  const ports = servers.map((server) => server.address().port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

async function until(probe, timeoutMs, what, intervalMs = 10) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    // A probe's failure is "not yet" (a service still starting), unless it says it is final.
    if (
      await probe().catch((err) => {
        if (err.final) throw err;
        return false;
      })
    ) {
      return;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function peakRssMb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)[1]) / 1024;
  } catch {
    return 0;
  }
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

/** A process and its children (a load generator forks its workers). */
function withChildren(pid) {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
    return [pid, ...children.flatMap(withChildren)];
  } catch {
    return [pid];
  }
}

const sumCpu = (pids) => pids.reduce((n, pid) => n + cpuMs(pid), 0);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** A `borealis` CLI process (the compiled tree), stopped with SIGTERM before the broker and the database go away. */
function startCli(args, env, { nodeFlags = [], stdout } = {}) {
  // BENCH_LOG_DIR: each service's log lines (stdout) to a file there, to see why a run failed.
  const logFile = process.env.BENCH_LOG_DIR ? openSync(path.join(process.env.BENCH_LOG_DIR, `${args[2] ?? args[0]}-${env.TRANSPORT_INSTANCE_ID ?? process.pid}-${Date.now()}.log`), 'w') : 'ignore';
  const child = spawn(process.execPath, [...nodeFlags, CLI, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', stdout ?? logFile, 'inherit'] });
  cleanups.unshift(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  });
  return child;
}

async function ready(port, what) {
  await until(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, 90_000, what, 100);
}

/** The transport's counters that tell the bench where the devices are: notifications written, ids acknowledged, devices held. */
async function transportCounters(port) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const num = (re) => Number(re.exec(text)?.[1] ?? 0);
  return {
    written: num(/^borealis_transport_deliveries_total\{outcome="written"[^}]*\} (\d+)/m),
    acks: num(/^borealis_transport_acks_total(?:\{[^}]*\})? (\d+)/m),
    held: num(/^borealis_transport_devices(?:\{[^}]*\})? (\d+)/m),
  };
}

/** push-core's consumers since it started: records, handler calls (batches) and handler seconds per topic. */
async function consumerStats(port) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const stats = {};
  const add = (re, key) => {
    for (const m of text.matchAll(re)) {
      const topic = m[1].replace(/^borealis\./, '');
      stats[topic] ??= { records: 0, batches: 0, handlerSeconds: 0 };
      stats[topic][key] += Number(m[2]);
    }
  };
  add(/^borealis_bus_consumed_records_total\{[^}]*topic="([^"]+)"[^}]*\} ([\d.e+]+)/gm, 'records');
  add(/^borealis_bus_handler_duration_seconds_count\{[^}]*topic="([^"]+)"[^}]*\} ([\d.e+]+)/gm, 'batches');
  add(/^borealis_bus_handler_duration_seconds_sum\{[^}]*topic="([^"]+)"[^}]*\} ([\d.e+]+)/gm, 'handlerSeconds');
  for (const s of Object.values(stats)) s.handlerSeconds = Number(s.handlerSeconds.toFixed(1));
  return stats;
}

/**
 * Real transports and real devices: TRANSPORTS transport processes, and per transport one
 * `borealis loadgen` whose SDK devices connect to it, `registrate()` for the application (through
 * the transport to push-core over Kafka) and count the notifications they get.
 */
async function startRealDevices(common, applicationId, db, profile) {
  const secret = randomBytes(24).toString('hex');
  const tag = `${process.pid}-${Date.now().toString(36)}`;
  const transports = [];
  const ports = await freePorts(2 * TRANSPORTS);
  for (let i = 0; i < TRANSPORTS; i++) {
    const [httpPort, devicePort] = [ports[2 * i], ports[2 * i + 1]];
    const instanceId = `bench-t${i}-${tag}`;
    const proc = startCli(['serve', '--service', 'transport'], {
      ...common,
      HTTP_PORT: String(httpPort),
      TRANSPORT_INSTANCE_ID: instanceId,
      DEVICE_HOST: '127.0.0.1',
      DEVICE_PORT: String(devicePort),
      DEVICE_CREDENTIAL_SECRET: secret,
      HEARTBEAT_INTERVAL_MS: values['heartbeat-ms'],
      // As long as the device SDK waits for an answer (30 s): a backlog of registrations on a
      // busy machine is answered late rather than refused at 10 s.
      REGISTRATION_TIMEOUT_MS: '30000',
      // Every device of a transport enrolls and registers from one loopback address (docs/security.md, finding 5).
      DEVICE_ENROLL_SOURCE_RATE: '1000000',
      DEVICE_ENROLL_SOURCE_BURST: '1000000',
      DEVICE_REGISTER_SOURCE_RATE: '1000000',
      DEVICE_REGISTER_SOURCE_BURST: '1000000',
    }, { nodeFlags: profile });
    transports.push({ proc, httpPort, devicePort, instanceId });
  }
  await Promise.all(transports.map((t, i) => ready(t.httpPort, `transport ${i} ready`)));
  log(`${TRANSPORTS} transports ready (pids ${transports.map((t) => t.proc.pid).join(', ')})`);

  const loadgens = transports.map((t, i) => {
    const devices = Math.floor(ONLINE / TRANSPORTS) + (i < ONLINE % TRANSPORTS ? 1 : 0);
    const rate = Math.max(1, Math.round(Number(values.rate)));
    // Each load generator from its own loopback address: ephemeral ports are per source address.
    const args = ['loadgen', '--devices', String(devices), '--server', `tcp://127.0.0.1:${t.devicePort}`, '--apps', '1', '--app', applicationId, '--rate', String(rate), '--source-addresses', `127.0.0.${10 + i}`];
    const proc = startCli(args, {}, { stdout: 'pipe' });
    const gen = { proc, devices, progress: { devices: 0, ready: 0, registered: 0, registrationErrors: 0, notifications: 0, reconnects: 0 }, notificationsAt: [] };
    createInterface({ input: proc.stdout }).on('line', (line) => {
      let event;
      try {
        event = JSON.parse(line);
      } catch {
        return;
      }
      if (event.event !== 'progress') return;
      if (event.notifications !== gen.progress.notifications) gen.notificationsAt.push({ atMs: performance.now(), notifications: event.notifications });
      gen.progress = event;
    });
    return gen;
  });
  const total = (key) => loadgens.reduce((n, g) => n + (g.progress[key] ?? 0), 0);
  let lastLog = 0;
  await until(
    async () => {
      if (Date.now() - lastLog > 5000) {
        lastLog = Date.now();
        log(`devices: ${total('ready')} ready, ${total('registered')} registered, ${total('registrationErrors')} registration errors of ${ONLINE}`);
      }
      // A device whose registrate() failed (the load generator tries 4 times): the run cannot complete.
      if (total('registrationErrors') > 0) {
        throw Object.assign(
          new Error(`${total('registrationErrors')} registrations failed (${total('registered')} registered): push-core answers registrations more slowly than devices connect; lower --rate, or raise --heartbeat-ms (less idle work per connected device) (see docs/benchmarks.md)`),
          { final: true },
        );
      }
      return total('registered') >= ONLINE;
    },
    Math.max(180_000, (ONLINE / TRANSPORTS / Number(values.rate)) * 1000 * 4),
    'devices registered',
    200,
  );
  // Every device held by its transport (presence set), and every registration in the Push DB.
  await until(async () => (await Promise.all(transports.map((t) => transportCounters(t.httpPort)))).reduce((n, c) => n + c.held, 0) >= ONLINE, 60_000, 'devices held', 200);
  const { rows } = await db.query(`SELECT count(*)::int AS n FROM registrations WHERE application_id = $1 AND unregistered_at_ms IS NULL`, [applicationId]);
  if (rows[0].n !== N) throw new Error(`${rows[0].n} live registrations, expected ${N}`);
  if (total('registrationErrors') > 0) log(`${total('registrationErrors')} registration errors (retried by the SDK)`);
  log(`${ONLINE} devices connected and registered over ${TRANSPORTS} transports, ${OFFLINE} offline registrations seeded`);
  return { transports, loadgens, total };
}

/** The older push-core-only mode: presence seeded, transports replaced by consumers of their inbox topics. */
async function startStandIns(kafka, registrationIds) {
  const instances = Array.from({ length: TRANSPORTS }, (_, i) => `bench-t${i}`);
  const redis = new Redis(REDIS);
  cleanups.unshift(() => redis.quit());
  const pipeline = redis.pipeline();
  for (let i = 0; i < ONLINE; i++) pipeline.set(`borealis:presence:${registrationIds.online(i)}`, instances[i % TRANSPORTS], 'EX', 3600);
  await pipeline.exec();
  // A real broker creates no topic on first use (auto-creation is off, as in production): the inboxes
  // the transports would create, with the services' default partition count.
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: instances.map((instanceId) => ({ topic: `borealis.transport.inbox.${instanceId}.v1`, numPartitions: 12, replicationFactor: 1 })) });
  await admin.disconnect();
  const received = new Map();
  const consumers = await Promise.all(
    instances.map(async (instanceId) => {
      // As the services' consumers (KAFKA_MAX_WAIT_MS and KAFKA_SESSION_TIMEOUT_MS defaults).
      const consumer = kafka.consumer({ groupId: `bench.${instanceId}`, maxWaitTimeInMs: 100, sessionTimeout: 30000 });
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
  log(`presence of ${ONLINE} devices seeded over ${TRANSPORTS} stand-in transports`);
  return received;
}

async function main() {
  if (!STAND_IN && Math.ceil(ONLINE / TRANSPORTS) > MAX_DEVICES_PER_PROCESS) {
    throw new Error(`${Math.ceil(ONLINE / TRANSPORTS)} devices per transport: use --transports ${Math.ceil(ONLINE / MAX_DEVICES_PER_PROCESS)} or more (20,000 open files per process)`);
  }
  const broker = await startBroker();
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
  const common = {
    KAFKA_BROKERS: broker.brokers,
    KAFKA_TOPIC_CREATION: 'admin',
    // Otherwise the services' production defaults: a real broker answers a fetch as soon as records
    // arrive, so the fetch wait (100 ms) only paces idle polls.
    REDIS_URL: REDIS,
    HTTP_HOST: '127.0.0.1',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  };

  const [port] = await freePorts(1);
  const profile = values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(values['cpu-prof'])] : [];
  const flags = values['core-flags'].split(' ').filter(Boolean);
  const core = startCli(['serve', '--service', 'push-core'], { ...common, DATABASE_URL: dbUrl.toString(), HTTP_PORT: String(port) }, { nodeFlags: [...flags, ...profile] });
  await ready(port, 'push-core ready');
  log(`push-core ready (pid ${core.pid}, http://127.0.0.1:${port})`);

  const db = new pg.Client({ connectionString: dbUrl.toString() });
  await db.connect();
  cleanups.unshift(() => db.end());
  const projectId = 'bench-project';
  const applicationId = 'bench-app';
  // The registry view push-core keeps from auth's registry events, seeded directly.
  await db.query(`INSERT INTO registry_projects VALUES ($1, true, 1)`, [projectId]);
  await db.query(`INSERT INTO registry_applications VALUES ($1, $2, true, 1)`, [applicationId, projectId]);
  const now = Date.now();
  // Offline registrations (and, with --stand-in, the online ones too), seeded in the Push DB.
  const seeded = STAND_IN ? N : OFFLINE;
  await db.query(
    `INSERT INTO registrations (id, project_id, application_id, device_id, created_at_ms, last_seen_at_ms)
     SELECT md5('reg' || i), $1, $2, 'bdev-' || i, $3, $3 FROM generate_series(0, $4 - 1) AS i`,
    [projectId, applicationId, now, seeded],
  );
  await db.query('ANALYZE');
  log(`seeded ${seeded} registrations`);

  const kafka = new Kafka({ clientId: 'bench', brokers: [broker.brokers], logLevel: logLevel.NOTHING });
  const standIn = STAND_IN ? await startStandIns(kafka, { online: (i) => `bdev-${i}` }) : null;
  const real = STAND_IN ? null : await startRealDevices(common, applicationId, db, profile);
  if (real) await db.query('ANALYZE');
  const producer = kafka.producer();
  await producer.connect();
  cleanups.unshift(() => producer.disconnect());

  const results = [];
  let expectedNotifications = 0;
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
    // CPU is less at the mercy of other work on the machine than elapsed time: push-core's, that
    // of the PostgreSQL backends serving it (its pool; not this script's own connection), of the
    // Kafka broker, and of the transports and load generators.
    const backends = async () => (await db.query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)).rows.map((r) => r.pid);
    const transportPids = real ? real.transports.map((t) => t.proc.pid) : [];
    const loadgenPids = real ? real.loadgens.flatMap((g) => withChildren(g.proc.pid)) : [];
    const cpuSample = () => ({
      pushCore: cpuMs(core.pid),
      broker: cpuMs(broker.pid),
      transports: sumCpu(transportPids),
      loadgens: sumCpu(loadgenPids),
    });
    const countersBefore = real ? await Promise.all(real.transports.map((t) => transportCounters(t.httpPort))) : [];
    // What the processes use while idle (Kafka polling, heartbeats, presence refresh), measured
    // for IDLE_MS before the run, so that the cost of the fan-out itself can be told apart.
    const idleFrom = { at: performance.now(), ...cpuSample() };
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const idleTo = { at: performance.now(), ...cpuSample() };
    const cpuBefore = {
      core: cpuMs(core.pid),
      pg: new Map((await backends()).map((pid) => [pid, cpuMs(pid)])),
      broker: cpuMs(broker.pid),
      transports: sumCpu(transportPids),
      loadgens: sumCpu(loadgenPids),
      bench: process.cpuUsage(),
    };
    const t0 = performance.now();
    await producer.send({ topic: 'borealis.push.message.accepted.v1', acks: -1, messages: [{ key: `${projectId}:application:${applicationId}`, value: JSON.stringify(value) }] });
    let onlineMs = null;
    let writtenMs = null;
    let storedMs = null;
    await until(
      async () => {
        if (onlineMs === null) {
          if (standIn) {
            if ((standIn.get(messageId) ?? 0) >= ONLINE) onlineMs = performance.now() - t0;
          } else {
            // The transports' counters: notifications written to the devices' sockets, and
            // message ids the devices acknowledged (a device acknowledges what it received).
            const now = await Promise.all(real.transports.map((t) => transportCounters(t.httpPort)));
            const grown = (key) => now.reduce((n, c, i) => n + c[key] - countersBefore[i][key], 0);
            if (writtenMs === null && grown('written') >= ONLINE) writtenMs = performance.now() - t0;
            if (grown('acks') >= ONLINE) onlineMs = performance.now() - t0;
          }
        }
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
      // A transport's /metrics costs it a few ms of CPU (more on a busy machine): four every 200 ms.
      real ? 200 : 10,
    );
    const totalMs = Math.max(onlineMs, storedMs);
    let loadgenSeenMs = null;
    let deliveredMs = null;
    if (real) {
      // The load generators' own count (they report once a second, so it confirms rather than times).
      expectedNotifications += ONLINE;
      await until(async () => real.total('notifications') >= expectedNotifications, 60_000, `run ${run}: notifications counted by the load generators`, 100);
      const at = real.loadgens.map((g) => g.notificationsAt.find((x) => x.notifications >= expectedNotifications * (g.devices / ONLINE))?.atMs ?? performance.now());
      loadgenSeenMs = Math.max(...at) - t0;
      // The receipts flow back: every online delivery becomes `delivered` (its CPU is counted below).
      await until(
        async () => (await db.query(`SELECT count(*)::int AS n FROM deliveries WHERE message_id = $1 AND state = 'delivered'`, [messageId])).rows[0].n >= ONLINE,
        120_000,
        `run ${run}: receipts applied`,
        200,
      );
      deliveredMs = performance.now() - t0;
    }
    const { rows: states } = await db.query(`SELECT state, count(*)::int AS n FROM deliveries WHERE message_id = $1 GROUP BY state`, [messageId]);
    const byState = Object.fromEntries(states.map((r) => [r.state, r.n]));
    const expectedPending = real ? OFFLINE : N;
    if ((byState.pending ?? 0) !== expectedPending) throw new Error(`run ${run}: ${byState.pending ?? 0} pending deliveries, expected ${expectedPending} (${JSON.stringify(byState)})`);
    const pgCpuMs = (await backends()).reduce((sum, pid) => sum + cpuMs(pid) - (cpuBefore.pg.get(pid) ?? 0), 0);
    const benchCpu = process.cpuUsage(cpuBefore.bench);
    const windowMs = performance.now() - t0;
    const idleRate = (key) => (idleTo[key] - idleFrom[key]) / (idleTo.at - idleFrom.at);
    const rawCpu = {
      pushCore: cpuMs(core.pid) - cpuBefore.core,
      broker: cpuMs(broker.pid) - cpuBefore.broker,
      transports: sumCpu(transportPids) - cpuBefore.transports,
      loadgens: sumCpu(loadgenPids) - cpuBefore.loadgens,
    };
    const cpuMsOf = (key) => rawCpu[key];
    const result = {
      run,
      recipients: N,
      onlineMs: Math.round(onlineMs),
      ...(real
        ? {
            writtenMs: Math.round(writtenMs),
            loadgenSeenMs: Math.round(loadgenSeenMs),
            receiptsAppliedMs: Math.round(deliveredMs),
            // Notifications the devices handed to the app so far, against one per online device and run.
            loadgenNotifications: { counted: real.total('notifications'), expected: expectedNotifications },
          }
        : {}),
      allStoredMs: Math.round(storedMs),
      totalMs: Math.round(totalMs),
      recipientsPerSecond: Math.round(N / (totalMs / 1000)),
      states: byState,
      cpuMs: {
        pushCore: rawCpu.pushCore,
        postgres: pgCpuMs,
        broker: rawCpu.broker,
        ...(real ? { transports: rawCpu.transports, loadgens: rawCpu.loadgens } : {}),
        bench: Math.round((benchCpu.user + benchCpu.system) / 1000),
      },
      // The same, less what the processes used while idle for as long (not for PostgreSQL, whose idle backends use nothing).
      cpuAboveIdleMs: Object.fromEntries(
        ['pushCore', 'broker', ...(real ? ['transports', 'loadgens'] : [])].map((key) => [key, Math.max(0, Math.round(cpuMsOf(key) - idleRate(key) * windowMs))]),
      ),
      cpuWindowMs: Math.round(windowMs),
      loadavg: os.loadavg()[0].toFixed(2),
    };
    log(JSON.stringify(result));
    results.push(result);
  }
  const m = (pick) => median(results.map(pick));
  const per100k = (ms) => Math.round((ms * 100_000) / N);
  const cpuKeys = Object.keys(results[0].cpuMs);
  const summary = {
    bench: 'fanout',
    mode: STAND_IN ? 'stand-in transports' : 'real transports and devices',
    recipients: N,
    online: ONLINE,
    transports: TRANSPORTS,
    runs: RUNS,
    medianTotalMs: m((r) => r.totalMs),
    medianOnlineMs: m((r) => r.onlineMs),
    ...(real ? { medianWrittenMs: m((r) => r.writtenMs), medianReceiptsAppliedMs: m((r) => r.receiptsAppliedMs) } : {}),
    medianAllStoredMs: m((r) => r.allStoredMs),
    medianRecipientsPerSecond: m((r) => r.recipientsPerSecond),
    // Per run, from publishing until the last step measured (with real devices: the receipts applied).
    medianCpuMsPer100k: Object.fromEntries(cpuKeys.map((k) => [k, per100k(m((r) => r.cpuMs[k]))])),
    medianCpuMsPer100kTotal: per100k(m((r) => cpuKeys.reduce((n, k) => n + r.cpuMs[k], 0))),
    medianCpuAboveIdleMsPer100k: Object.fromEntries(Object.keys(results[0].cpuAboveIdleMs).map((k) => [k, per100k(m((r) => r.cpuAboveIdleMs[k]))])),
    medianCpuWindowMs: m((r) => r.cpuWindowMs),
    pushCorePeakRssMb: Math.round(peakRssMb(core.pid)),
    ...(broker.pid ? { brokerPeakRssMb: Math.round(peakRssMb(broker.pid)) } : {}),
    // Records per handler call show how the records reached push-core's consumers in batches.
    pushCoreConsumers: await consumerStats(port).catch(() => null),
    ...(real
      ? {
          transportPeakRssMb: real.transports.map((t) => Math.round(peakRssMb(t.proc.pid))),
          loadgenWorkerPeakRssMb: real.loadgens.map((g) => Math.round(Math.max(...withChildren(g.proc.pid).map(peakRssMb)))),
        }
      : {}),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memGb: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadavg: os.loadavg().map((l) => l.toFixed(2)) },
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

let stopping = null;
/** Stops everything started here (also on Ctrl-C), then exits. */
function shutdown() {
  stopping ??= (async () => {
    for (const cleanup of cleanups) await Promise.resolve(cleanup()).catch(() => undefined);
    process.exit();
  })();
  return stopping;
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    process.exitCode = 130;
    void shutdown();
  });
}

main()
  .catch((err) => {
    process.stderr.write(`[fanout] failed: ${err.stack ?? err}\n`);
    process.exitCode = 1;
  })
  .finally(shutdown);
