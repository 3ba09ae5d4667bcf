// Gateway benchmark: accepted sends per second and latency percentiles through the real gateway
// (JWT verification against a JWKS, per-IP and per-project token buckets in Redis, durable publish
// to a real Apache Kafka broker with acks=-1) next to a bare Fastify handler that parses the same JSON
// and answers an id: the ceiling of this machine in the same run.
//
//   npm run build && npm run bench -- gateway [--seconds 5] [--connections 32] [--runs 3] [--warmup 3] [--dist dir] [--compare dir]
//
// Needs Redis on 127.0.0.1:6379 (or REDIS_URL); starts a Kafka broker of its own (Java 17+, jars from
// Maven, cached in .cache/) unless KAFKA_BROKERS names one.
// One file, three roles (BENCH_ROLE): the orchestrator (default, also the load client), `bare` and
// `gateway` (servers in their own processes, so that the client's CPU is not theirs).
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { Agent, request } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startBenchBroker } from './lib/broker.mjs';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const require = createRequire(import.meta.url);
// BENCH_DIST (set from --dist, or --compare for a second gateway): another build of the libraries,
// e.g. of an older commit, to compare.
const dist = (lib) => require(path.join(process.env.BENCH_DIST ?? path.join(ROOT, 'dist'), 'libs', lib, 'src', 'index.js'));
const ROLE = process.env.BENCH_ROLE ?? 'orchestrator';
const ISSUER = 'https://bench/auth/public';
const AUDIENCE = 'borealis-push';
const PROJECT = 'bench-project';
const BODY = JSON.stringify({
  target: `r1_${'x'.repeat(45)}`,
  type: 'device',
  ttl: '1h',
  notification: { title: 'Breaking news', message: 'A short message body of the length most pushes have, about a hundred characters.', data: { articleId: 'a-18734' } },
});

const publishes = { requests: 0, records: 0 };

function ready(info) {
  // The orchestrator asks for the server's CPU time around each measurement: CPU per request does
  // not depend on what else the shared machine runs, unlike requests per second.
  process.on('message', (m) => {
    if (m === 'cpu') process.send({ cpu: process.cpuUsage(), publishes });
  });
  process.send({ ready: true, ...info });
}

function cpuOf(child) {
  return new Promise((resolve) => {
    const onMessage = (m) => {
      if (!m.cpu) return;
      child.off('message', onMessage);
      resolve({ cpuUs: m.cpu.user + m.cpu.system, sysUs: m.cpu.system, ...m.publishes });
    };
    child.on('message', onMessage);
    child.send('cpu');
  });
}

async function runBare() {
  const { default: Fastify } = await import('fastify');
  const { randomUUID } = await import('node:crypto');
  const app = Fastify({ bodyLimit: 64 * 1024 });
  app.post('/push/public/api/v1/projects/:projectId/messages', async () => ({ id: randomUUID() }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  ready({ port: app.server.address().port });
}

async function runGateway() {
  require('reflect-metadata');
  const { Test } = require('@nestjs/testing');
  const { default: Redis } = await import('ioredis');
  const { exportJWK, generateKeyPair, SignJWT } = await import('jose');
  const { GatewayModule } = dist('gateway');
  const { MemoryPresenceStore, MemoryRateLimiter, MemoryReplayGuard, RedisRateLimiter } = dist('keyvalue');
  const { Correlation, InProcessMessageBus, KafkaMessageBus } = dist('messaging');
  // As apps/gateway's main: request ids passed explicitly, no AsyncLocalStorage (a build from
  // before Correlation.setImplicit keeps it on).
  Correlation.setImplicit?.(false);
  const { configureHttpApp, createFastifyAdapter, PlatformModule } = dist('platform');
  const { SystemClock } = dist('util');

  const pair = await generateKeyPair('RS256');
  const keySet = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] });
  const jwks = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(keySet));
  await new Promise((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ project_id: PROJECT, scope: 'message:update project:read', client_key_id: 'bench-key' })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject('bench-client')
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(pair.privateKey);

  // The options of the platform's Redis client (distributedDrivers).
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 2, enableOfflineQueue: true, enableAutoPipelining: true });
  // BENCH_PARTS=memory-bus,memory-limiter swaps a part for its in-memory driver: to see what costs what.
  const parts = (process.env.BENCH_PARTS ?? '').split(',');
  const bus = parts.includes('memory-bus') ? new InProcessMessageBus() : new KafkaMessageBus({
    brokers: process.env.KAFKA_BROKERS.split(','),
    clientId: 'bench-gateway',
    topicCreation: 'admin',
    partitions: 4,
    replicationFactor: 1,
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 1000,
    maxWaitTimeMs: 100,
    requestTimeoutMs: 5000,
  });
  // Counted to report the records per produce request (the publisher batches).
  const publish = bus.publish.bind(bus);
  bus.publish = (topic, records) => {
    publishes.requests++;
    publishes.records += records.length;
    return publish(topic, records);
  };
  const moduleRef = await Test.createTestingModule({
    imports: [
      PlatformModule.register({ bus, presence: new MemoryPresenceStore(), rateLimiter: parts.includes('memory-limiter') ? new MemoryRateLimiter() : new RedisRateLimiter(redis), replayGuard: new MemoryReplayGuard(), clock: new SystemClock() }),
      GatewayModule.register({
        issuer: ISSUER,
        audience: AUDIENCE,
        accessTokenTtlSeconds: 3600,
        jwksUrl: `http://127.0.0.1:${jwks.address().port}/jwks.json`,
        // High enough never to refuse: the bench measures the cost of the check, not refusals.
        rateLimit: { perSecond: 1e7, burst: 1e7 },
        ipRateLimit: { perSecond: 1e7, burst: 1e7 },
        pushCoreUrl: 'http://127.0.0.1:9',
        consumerGroupPrefix: `bench.${process.pid}`,
      }),
    ],
  }).compile();
  const app = moduleRef.createNestApplication(createFastifyAdapter(), { logger: false, bodyParser: false });
  configureHttpApp(app);
  await app.listen(0, '127.0.0.1');
  // A clean exit on the orchestrator's kill, so that --cpu-prof can write its profile.
  process.once('SIGTERM', () => process.exit(0));
  ready({ port: app.getHttpServer().address().port, token });
}

function startServer(role, env) {
  // BENCH_PROFILE=<dir>: the gateway writes a V8 CPU profile there when the bench ends.
  const execArgv = role === 'gateway' && process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE] : [];
  if (process.env.BENCH_NODE_ARGS) execArgv.push(...process.env.BENCH_NODE_ARGS.split(' '));
  const child = fork(import.meta.filename, [], { execArgv, env: { ...process.env, ...env, BENCH_ROLE: role, LOG_LEVEL: 'error' }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, ...m }));
    child.once('exit', (code) => reject(new Error(`${role} exited (${code})`)));
  });
}

/**
 * CPU time (µs) of the helper processes the gateway's path makes work on the same machine: the
 * Redis server and the Kafka broker's JVM (Linux /proc; a remote or unknown process counts as 0).
 */
function helperCpu(pids) {
  const of = (pid) => {
    if (!pid) return 0;
    try {
      // Fields after the command name: state is 3rd, utime 14th and stime 15th of the whole line.
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
    } catch {
      return 0;
    }
  };
  return { redisUs: of(pids.redis), brokerUs: of(pids.broker) };
}

async function redisPid() {
  const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  if (!['127.0.0.1', 'localhost'].includes(url.hostname)) return null;
  const { default: Redis } = await import('ioredis');
  const redis = new Redis(url.href, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    return Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]) || null;
  } catch {
    return null;
  } finally {
    redis.disconnect();
  }
}

/** Closed-loop load: `connections` keep-alive connections, each sending the next request on an answer. */
async function load({ port, token, child }, seconds, connections, warmupSeconds, pids) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY), ...(token ? { authorization: `Bearer ${token}` } : {}) };
  const latencies = [];
  const statuses = new Map();
  let stop = false;
  const one = () =>
    new Promise((resolve) => {
      const started = process.hrtime.bigint();
      const req = request({ host: '127.0.0.1', port, path: `/push/public/api/v1/projects/${PROJECT}/messages`, method: 'POST', headers, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
          if (res.statusCode === 200) latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
          resolve();
        });
      });
      req.on('error', () => resolve());
      req.end(BODY);
    });
  const worker = async () => {
    while (!stop) await one();
  };
  // Warm-up: JIT (the gateway's path is long: 1.5 s left it a third slower in the first run than in
  // the third), the JWKS fetch, topic creation, connections.
  const warmUntil = Date.now() + warmupSeconds * 1000;
  await Promise.all(Array.from({ length: connections }, async () => { while (Date.now() < warmUntil) await one(); }));
  latencies.length = 0;
  statuses.clear();
  const before = await cpuOf(child);
  const helpersBefore = helperCpu(pids);
  const begun = Date.now();
  const workers = Array.from({ length: connections }, worker);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  stop = true;
  await Promise.all(workers);
  const elapsed = (Date.now() - begun) / 1000;
  const answered = [...statuses.values()].reduce((a, b) => a + b, 0);
  const after = await cpuOf(child);
  const helpersAfter = helperCpu(pids);
  const cpuUsPerRequest = (after.cpuUs - before.cpuUs) / answered;
  // The kernel's share (system time): socket reads and writes.
  const sysUsPerRequest = (after.sysUs - before.sysUs) / answered;
  const redisUsPerRequest = (helpersAfter.redisUs - helpersBefore.redisUs) / answered;
  const brokerUsPerRequest = (helpersAfter.brokerUs - helpersBefore.brokerUs) / answered;
  const recordsPerPublish = (after.records - before.records) / (after.requests - before.requests);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return { perSecond: latencies.length / elapsed, cpuUsPerRequest, sysUsPerRequest, redisUsPerRequest, brokerUsPerRequest, recordsPerPublish, p50: pct(50), p95: pct(95), p99: pct(99), statuses: Object.fromEntries(statuses) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n, d = 1) => n.toFixed(d);

async function orchestrate() {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '32' }, runs: { type: 'string', default: '3' }, warmup: { type: 'string', default: '3' }, dist: { type: 'string' }, compare: { type: 'string' } } });
  if (values.dist) process.env.BENCH_DIST = path.resolve(values.dist);
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);
  const runs = Number(values.runs);
  const broker = await startBenchBroker({ log: (line) => process.stderr.write(`[gateway] ${line}\n`) });
  const pids = { redis: await redisPid(), broker: broker.pid };
  // --compare dir: a second gateway from another build ("other"), measured in the same rounds, so
  // that a before/after comparison sees the same machine load.
  const servers = [];
  const results = { bare: [], gateway: [], other: [] };
  try {
    servers.push(['bare', await startServer('bare', {})]);
    servers.push(['gateway', await startServer('gateway', { KAFKA_BROKERS: broker.brokers })]);
    if (values.compare) servers.push(['other', await startServer('gateway', { KAFKA_BROKERS: broker.brokers, BENCH_DIST: path.resolve(values.compare) })]);
    for (let run = 1; run <= runs; run++) {
      // Rotate the order so that drift in the machine's load does not favour one side.
      const order = servers.map((_, i) => servers[(i + run - 1) % servers.length]);
      for (const [name, server] of order) {
        const r = await load(server, seconds, connections, Number(values.warmup), pids);
        results[name].push(r);
        process.stdout.write(`run ${run} ${name.padEnd(7)} ${fmt(r.perSecond, 0).padStart(7)} req/s  ${fmt(r.cpuUsPerRequest, 0).padStart(4)} µs CPU/req (sys ${fmt(r.sysUsPerRequest, 0)})  p50 ${fmt(r.p50, 2)} ms  p95 ${fmt(r.p95, 2)} ms  p99 ${fmt(r.p99, 2)} ms  ${JSON.stringify(r.statuses)}${name !== 'bare' ? `  redis ${fmt(r.redisUsPerRequest, 0)} µs/req  broker ${fmt(r.brokerUsPerRequest, 0)} µs/req  ${fmt(r.recordsPerPublish)} records/produce` : ''}\n`);
      }
    }
  } finally {
    // Also when a server failed to start: nothing of the bench outlives it.
    for (const [, server] of servers) server.child.kill();
    await Promise.all(servers.map(([, server]) => new Promise((resolve) => (server.child.exitCode !== null || server.child.signalCode !== null ? resolve() : server.child.once('exit', resolve)))));
    await broker.stop();
  }
  const summary = (name) => {
    const rs = results[name];
    return { perSecond: median(rs.map((r) => r.perSecond)), cpu: median(rs.map((r) => r.cpuUsPerRequest)), helpers: median(rs.map((r) => r.redisUsPerRequest + r.brokerUsPerRequest)), p50: median(rs.map((r) => r.p50)), p95: median(rs.map((r) => r.p95)), p99: median(rs.map((r) => r.p99)) };
  };
  const b = summary('bare');
  const g = summary('gateway');
  process.stdout.write(`\nmedians of ${runs} runs, ${connections} connections, ${seconds} s each\n`);
  process.stdout.write(`| | accepted/s | server CPU µs/request | p50 ms | p95 ms | p99 ms |\n| --- | --- | --- | --- | --- | --- |\n`);
  process.stdout.write(`| bare Fastify | ${fmt(b.perSecond, 0)} | ${fmt(b.cpu, 0)} | ${fmt(b.p50, 2)} | ${fmt(b.p95, 2)} | ${fmt(b.p99, 2)} |\n`);
  process.stdout.write(`| gateway | ${fmt(g.perSecond, 0)} | ${fmt(g.cpu, 0)} | ${fmt(g.p50, 2)} | ${fmt(g.p95, 2)} | ${fmt(g.p99, 2)} |\n`);
  const o = values.compare ? summary('other') : null;
  if (o) process.stdout.write(`| gateway (--compare ${values.compare}) | ${fmt(o.perSecond, 0)} | ${fmt(o.cpu, 0)} | ${fmt(o.p50, 2)} | ${fmt(o.p95, 2)} | ${fmt(o.p99, 2)} |\n`);
  process.stdout.write(`gateway: Redis server and broker CPU ${fmt(g.helpers, 0)} µs/request on top of its own${o ? ` (other build: ${fmt(o.helpers, 0)})` : ''}\n`);
  process.stdout.write(`ratio gateway/bare: ${fmt(g.perSecond / b.perSecond, 2)}${o ? `, other build/bare: ${fmt(o.perSecond / b.perSecond, 2)}` : ''} (of the medians)\n`);
  // Each round measures bare and gateway back to back, so their ratio within a round sees the same
  // machine load; its median is less sensitive to load drift between rounds than the ratio of medians.
  const perRound = (name) => results[name].map((r, i) => r.perSecond / results.bare[i].perSecond);
  const rounds = (name) => `${fmt(median(perRound(name)), 2)} (rounds: ${perRound(name).map((x) => fmt(x, 2)).join(' ')})`;
  process.stdout.write(`ratio gateway/bare per round, median: ${rounds('gateway')}${o ? `; other build: ${rounds('other')}` : ''}\n`);
}

const roles = { bare: runBare, gateway: runGateway, orchestrator: orchestrate };
roles[ROLE]().catch((err) => {
  process.stderr.write(`${ROLE}: ${err.stack ?? err}\n`);
  process.exit(1);
});
