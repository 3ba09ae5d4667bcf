// End-to-end benchmark: what app servers and devices feel. Starts the system (standalone: one
// process with embedded PostgreSQL; distributed: auth, gateway, push-core and transport as their own
// processes on a real Apache Kafka broker started here, PostgreSQL and Redis), connects N simulated
// devices through the load generator (`borealis loadgen --receipts`), and sends pushes through the
// real HTTP API with a real access token at a fixed offered rate (open model: send i leaves at
// t0 + i/rate whatever the answers do, and its latency counts from that moment, so a slow server
// is not hidden by a client that waits). For every message it records the time from the POST's
// scheduled start to the device's receipt, then waits until the Push DB counts every one as
// delivered (acknowledged by the device) through the stats API. It counts what the app saw: a
// message accepted and never received is lost, one received twice by the app is a duplicate;
// either fails the run.
//
//   npm run build && npm run bench -- e2e [options]
//     --mode standalone|distributed|both   (default standalone; both: standalone, then distributed, in
//                                          this run, and the ratio of their rates)
//     --variant 'label:KEY=V,KEY=V'        (repeatable) one more distributed system with these service
//                                          variables, measured after the plain one (before/after a setting);
//                                          `broker.<property>=V` sets the broker's server.properties,
//                                          `broker.jvm=-XX:... -XX:...` adds JVM flags to its start, and
//                                          `dist=DIR` runs this system's servers from another build (as
//                                          --dist, for one system: the build before and after in one run)
//     --devices 1000[,5000,15000]          connected devices (a list: one system per value: the cost curve)
//     --regs-per-app 10[,1000]             registrations per application (devices / this = applications)
//     --rates 1000,2000                    offered pushes per second, each run for --seconds
//     --repeat 1                           with --rates: run the list this many times in each system
//                                          (interleaved) and report medians per rate; with --sweep: the
//                                          highest rate sustained this many times in all (medians)
//     --sweep                              instead of --rates: raise the rate until p99 >= --p99-ms or
//                                          something is lost or refused, then narrow it down
//     --seconds 10                         length of each offered-rate run
//     --warmup 2                           seconds sent at the same rate before each run: checked for loss
//                                          and duplicates, left out of latency and rates (new sender
//                                          connections, JIT)
//     --system-warmup S                    seconds at 300/s once per system before any run, not recorded
//                                          (default 3 standalone, 30 distributed: the broker's JIT)
//     --type device|application|multicast  target of each push (application: fan-out to its registrations;
//                                          multicast: POST .../messages/multicast naming the same registrations
//                                          of one application by id, so the three types compare per recipient)
//     --connect-rate 1000                  devices connecting (and registering) per second before the runs
//     --cpu-prof DIR                       the server processes write V8 CPU profiles there on exit, and the
//                                          Kafka broker a JFR recording (`jfr print --events ExecutionSample`);
//                                          each run then also gets a per-stage breakdown of the servers' main
//                                          threads, in µs per push, from the samples inside its window
//                                          (tools/bench/lib/profile-stages.mjs)
//     --dist DIR                           run the servers from another build (e.g. an older commit's dist/,
//                                          for before/after); devices and tools always run from this one
//     --broker-heap-mb 512                 distributed: the Kafka broker's JVM heap
//     --client node|wrk                    node (default): the open-model sender above, at --rates; wrk: the
//                                          issue-18 setting, a closed loop of `wrk` (Debian's package) with
//                                          --connections keep-alive connections sending as fast as answers
//                                          come, for --seconds, --repeat times (no per-message latency: wrk
//                                          sees no ids; loss and duplicates from the Push DB's accepted count
//                                          and the devices' receipts); the bare baseline then runs under wrk too
//     --connections 32                     wrk's connections
//     --compare DIR                        one more standalone system from another build's dist/ (e.g. the
//                                          build before a change), measured after this build's, in this run;
//                                          started with --compare-node-flags (default none), while this build's
//                                          standalone gets the Node flags of `npm start` (package.json)
//     --alternate                          with several systems and --repeat N: N rounds, each starting every
//                                          system afresh on an empty database and measuring it once, in the
//                                          order A B, then B A, ... (without it a system's repeats follow each
//                                          other on its growing tables, and the system measured second always
//                                          runs in the wake of the first's shutdown: its files being written
//                                          back and deleted)
//     --skip-baseline                      leave out the bare Fastify baseline (by default every run at a rate
//                                          is followed by one of tools/bench/lib/bare-fastify.mjs at the same
//                                          rate under the same client: its CPU per request, and the push's
//                                          server + PostgreSQL CPU per push divided by it)
//     --smoke                              tiny sizes for CI (timings printed, never asserted)
//     --json                               also print the results as one JSON line (for tests)
//
// Distributed mode starts one Kafka broker per system (libs/testing/src/kafka-broker.js: Java 17+,
// jars from Maven, cached in .cache/), so that every system starts on empty topics and the broker's
// CPU is that system's alone; KAFKA_BROKERS names an existing broker instead (its CPU is then not
// measured). It also needs PostgreSQL (TEST_DATABASE_URL, default the local server) and Redis
// (TEST_REDIS_URL); the standalone mode needs nothing else.
import { randomBytes } from 'node:crypto';
import { fork, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { jfrFlag, startBenchBroker } from './lib/broker.mjs';
import { STAGES, stagesOf, sumStages } from './lib/profile-stages.mjs';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const CLI = path.join(ROOT, 'apps', 'cli', 'bin', 'borealis.js');
const require = createRequire(import.meta.url);
const dist = (lib) => require(path.join(ROOT, 'dist', 'libs', lib, 'src', 'index.js'));
const CLK_TCK = 100;
/** The Node flags `npm start` gives the standalone server (package.json's start script), so that the benchmark runs it the same way. */
const START_NODE_FLAGS = (/\bnode((?: --[\w-]+(?:=\S+)?)*) apps\/cli\/bin\/borealis\.js serve/.exec(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts.start)?.[1] ?? '').split(' ').filter(Boolean);

// ---------------------------------------------------------------------------------------------
// Orchestrator

function options() {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      mode: { type: 'string', default: 'standalone' },
      devices: { type: 'string', default: '1000' },
      'regs-per-app': { type: 'string', default: '10' },
      rates: { type: 'string', default: '1000' },
      sweep: { type: 'boolean', default: false },
      'sweep-start': { type: 'string', default: '500' },
      'p99-ms': { type: 'string', default: '100' },
      seconds: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      'system-warmup': { type: 'string' },
      type: { type: 'string', default: 'device' },
      'connect-rate': { type: 'string', default: '1000' },
      'cpu-prof': { type: 'string' },
      dist: { type: 'string' },
      'broker-heap-mb': { type: 'string', default: '512' },
      compare: { type: 'string' },
      'compare-node-flags': { type: 'string', default: '' },
      client: { type: 'string', default: 'node' },
      connections: { type: 'string', default: '32' },
      'skip-baseline': { type: 'boolean', default: false },
      alternate: { type: 'boolean', default: false },
      variant: { type: 'string', multiple: true, default: [] },
      repeat: { type: 'string', default: '1' },
      smoke: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const list = (s) => s.split(',').map((x) => Number(x.trim())).filter((n) => Number.isFinite(n) && n > 0);
  const o = {
    modes: values.mode === 'both' ? ['standalone', 'distributed'] : values.mode.split(',').map((m) => m.trim()),
    devices: list(values.devices),
    regsPerApp: list(values['regs-per-app']),
    rates: list(values.rates),
    sweep: values.sweep,
    sweepStart: Number(values['sweep-start']),
    p99Ms: Number(values['p99-ms']),
    seconds: Number(values.seconds),
    warmup: Number(values.warmup),
    systemWarmup: values['system-warmup'] === undefined ? undefined : Number(values['system-warmup']),
    type: values.type,
    connectRate: values['connect-rate'],
    cpuProf: values['cpu-prof'] ? path.resolve(values['cpu-prof']) : undefined,
    brokerHeapMb: Number(values['broker-heap-mb']),
    variants: values.variant.map(parseVariant),
    repeat: Math.max(1, Number(values.repeat)),
    serverCli: values.dist ? path.join(path.resolve(values.dist), 'apps', 'cli', 'src', 'main.js') : CLI,
    json: values.json,
    baseline: !values['skip-baseline'],
    client: values.client,
    connections: Number(values.connections),
    compare: values.compare ? path.resolve(values.compare) : undefined,
    alternate: values.alternate,
  };
  if (values.smoke) Object.assign(o, { devices: [20], regsPerApp: [10], rates: [50], seconds: 2, warmup: 0, sweep: false });
  for (const m of o.modes) if (!['standalone', 'distributed'].includes(m)) throw new Error(`--mode: unknown mode ${m}`);
  // The systems to measure, in order: each mode, then each variant of the distributed one.
  o.systems = [...o.modes.map((mode) => ({ mode, label: mode, env: {} })), ...o.variants.map((v) => ({ mode: 'distributed', label: `distributed, ${v.label}`, env: v.env }))];
  const compareFlags = values['compare-node-flags'].split(' ').filter(Boolean);
  if (o.compare) o.systems.push({ mode: 'standalone', label: `standalone, ${path.basename(o.compare)}${compareFlags.length ? ` ${compareFlags.join(' ')}` : ''}`, env: {}, serverCli: path.join(o.compare, 'apps', 'cli', 'src', 'main.js'), nodeFlags: compareFlags });
  if (o.alternate && o.sweep) throw new Error('--alternate repeats fixed rates or wrk runs: no --sweep');
  if (!['device', 'application', 'multicast'].includes(o.type)) throw new Error('--type must be device, application or multicast');
  if (!['node', 'wrk'].includes(o.client)) throw new Error('--client must be node or wrk');
  if (o.client === 'wrk') {
    if (o.type !== 'device') throw new Error('--client wrk sends device targets only');
    if (o.sweep) throw new Error('--client wrk is a closed loop: no --sweep');
    if (spawnSync('wrk', ['--version']).error) throw new Error('--client wrk needs wrk on the PATH (Debian: apt-get install -y wrk)');
    o.rates = [0];
  }
  return o;
}

/** `label:KEY=V,KEY=V` (or just `KEY=V,...`, labelled by itself). */
function parseVariant(text) {
  const colon = text.indexOf(':');
  const [label, assignments] = colon > 0 && !text.slice(0, colon).includes('=') ? [text.slice(0, colon), text.slice(colon + 1)] : [text, text];
  const env = {};
  for (const pair of assignments.split(',').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`--variant ${text}: expected KEY=VALUE, got ${pair}`);
    env[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return { label, env };
}

const cleanups = [];
const log = (line) => process.stderr.write(`[e2e] ${line}\n`);

async function main() {
  const o = options();
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  const results = [];
  const failedSetups = [];
  log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  try {
    const bare = o.baseline ? await startBare() : null;
    // --alternate: one measurement per system per round, on freshly started systems, A B then B A.
    const rounds = o.alternate ? o.repeat : 1;
    const repeat = o.alternate ? 1 : o.repeat;
    const order = (round) => (round % 2 === 0 ? o.systems : [...o.systems].reverse());
    for (let round = 0; round < rounds; round++)
    for (const { mode, label, env, serverCli, nodeFlags: flags } of order(round)) {
      for (const devices of o.devices) {
        for (const regsPerApp of o.regsPerApp) {
          const system = await startSystem(mode, { ...o, serverCli: serverCli ?? o.serverCli, standaloneFlags: flags ?? START_NODE_FLAGS }, env);
          let fleet = null;
          let measured = [];
          try {
            try {
              fleet = await connectDevices(system, devices, Math.min(regsPerApp, devices), o.connectRate);
            } catch (err) {
              // This size could not be set up; say why and go on with the others.
              log(`${label}, ${devices} devices, ${regsPerApp} per application: ${err.message.split('\n')[0]}`);
              failedSetups.push(`${label}/${devices}/${regsPerApp}`);
              continue;
            }
            const idle = system.monitor.snapshot();
            const warmSeconds = o.systemWarmup ?? (mode === 'distributed' ? 30 : 3);
            if (o.warmup > 0 && warmSeconds > 0) {
              // A freshly started system compiles its hot paths on the first pushes: not measured.
              // The broker's JVM takes longest: its C2 compiler threads used 250-480 µs of CPU per
              // push over the first minute of traffic and still 80 µs after two, a cost a broker in
              // service has long paid; V8 settles within seconds.
              log(`warming the system up (${warmSeconds} s at 300/s, not recorded)`);
              await runAtRate(system, fleet, 300, { ...o, seconds: warmSeconds, warmup: 0 });
            }
            // Each run at a rate, then (by default) the bare baseline at the same rate under the same client.
            const measure = async (rate) => {
              if (o.client === 'wrk') {
                const run = await runWrk(system, fleet, o);
                if (bare) run.bare = await runBareWrk(bare, fleet, o, system.work);
                return run;
              }
              const run = await runAtRate(system, fleet, rate, o);
              if (bare) run.bare = await runBare(bare, fleet, rate, o);
              return run;
            };
            const runs = o.sweep ? await sweep(system, fleet, o, measure) : [];
            if (!o.sweep) for (let round = 0; round < repeat; round++) for (const rate of o.rates) runs.push(await measure(rate));
            measured = runs.map((run) => ({ mode, label, ...(label !== mode ? { variant: env } : {}), devices, regsPerApp, type: o.type, idleRss: idle, ...run }));
          } finally {
            await fleet?.loadgen.stop();
            await system.stop();
          }
          // V8 writes a profile when its process exits.
          if (o.cpuProf) addStages(system, measured);
          results.push(...measured);
        }
      }
    }
  } finally {
    await cleanup();
  }
  printTable(results, o);
  const comparison = printComparison(results, o);
  if (o.json) process.stdout.write(JSON.stringify({ event: 'results', results, comparison }) + '\n');
  const bad = results.filter((r) => r.lost > 0 || r.duplicates > 0 || r.misrouted > 0);
  if (failedSetups.length > 0) {
    log(`FAILED: could not set up ${failedSetups.join(', ')}`);
    process.exitCode = 1;
  }
  if (bad.length > 0) {
    log(`FAILED: ${bad.length} run(s) lost, duplicated or misrouted messages`);
    process.exitCode = 1;
  }
}

async function cleanup() {
  while (cleanups.length) {
    try {
      await cleanups.pop()();
    } catch (err) {
      log(`cleanup: ${err.message}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Systems

function spawnJson(args, env, name, nodeArgs = [], cli = CLI) {
  const child = spawn(process.execPath, [...nodeArgs, cli, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail = [];
  const listeners = new Set();
  const onLine = (line) => {
    let parsed = null;
    try {
      parsed = JSON.parse(line);
    } catch {
      // a log line
    }
    if (parsed === null || typeof parsed !== 'object') {
      tail.push(line);
      if (tail.length > 50) tail.shift();
      return;
    }
    for (const l of listeners) l(parsed);
  };
  createInterface({ input: child.stdout }).on('line', onLine);
  createInterface({ input: child.stderr }).on('line', onLine);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    child,
    name,
    on: (listener) => listeners.add(listener),
    waitFor(predicate, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`${name}: no ${what} within ${timeoutMs} ms\n${tail.join('\n')}`)), timeoutMs);
        const listener = (l) => predicate(l) && done(null, l);
        const onExit = (code) => done(new Error(`${name} exited (${code}) before ${what}\n${tail.join('\n')}`));
        const done = (err, value) => {
          clearTimeout(timer);
          listeners.delete(listener);
          child.off('exit', onExit);
          err ? reject(err) : resolve(value);
        };
        listeners.add(listener);
        child.once('exit', onExit);
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
    tail: () => tail.join('\n'),
  };
}

/** With --cpu-prof, the flags that make a server write its profile; the file is added to `profiles`. */
function nodeFlags(o, name, profiles = []) {
  if (!o.cpuProf) return [];
  mkdirSync(o.cpuProf, { recursive: true });
  const file = `${name}-${Date.now()}-${randomBytes(3).toString('hex')}.cpuprofile`;
  profiles.push(path.join(o.cpuProf, file));
  return ['--cpu-prof', `--cpu-prof-dir=${o.cpuProf}`, `--cpu-prof-name=${file}`];
}

/** Per-source enrollment and Register budgets high enough never to apply (docs/security.md, finding 5). */
const DEVICE_SOURCE_LIMITS_OFF = {
  DEVICE_ENROLL_SOURCE_RATE: '1000000',
  DEVICE_ENROLL_SOURCE_BURST: '1000000',
  DEVICE_REGISTER_SOURCE_RATE: '1000000',
  DEVICE_REGISTER_SOURCE_BURST: '1000000',
};

async function startSystem(mode, o, env) {
  return mode === 'standalone' ? startStandalone(o) : startDistributed(o, env);
}

async function startStandalone(o) {
  const { freePort } = dist('testing');
  const work = mkdtempSync(path.join(os.tmpdir(), 'borealis-bench-e2e-'));
  // As root, the embedded PostgreSQL runs as `postgres`, which must be able to enter the directory.
  chmodSync(work, 0o755);
  // Both chosen here (distinct).
  const ports = new Set();
  while (ports.size < 2) ports.add(await freePort());
  const [httpPort, devicePort] = [...ports];
  const env = {
    BOREALIS_DATA_DIR: path.join(work, 'data'),
    BOREALIS_HTTP_PORT: String(httpPort),
    BOREALIS_DEVICE_PORT: String(devicePort),
    BOREALIS_PRINT_READY_JSON: 'true',
    LOG_LEVEL: 'warn',
    // The benchmark measures the pipeline, not the quotas.
    RATE_LIMIT_PER_SECOND: '1000000',
    RATE_LIMIT_BURST: '1000000',
    RATE_LIMIT_IP_PER_SECOND: '1000000',
    RATE_LIMIT_IP_BURST: '1000000',
    // The load generator's devices all enroll and register from a few loopback addresses.
    ...DEVICE_SOURCE_LIMITS_OFF,
  };
  const profiles = [];
  if (o.standaloneFlags.length > 0) log(`standalone with ${o.standaloneFlags.join(' ')}`);
  const server = spawnJson(['serve'], env, 'standalone', [...o.standaloneFlags, ...nodeFlags(o, 'standalone', profiles)], o.serverCli);
  const started = performance.now();
  await server.waitFor((l) => l.event === 'ready', 120_000, 'ready');
  log(`standalone ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const monitor = new ProcessMonitor([
    { name: 'borealis (all services)', pids: () => [server.child.pid] },
    { name: 'postgres (embedded)', pids: (procs) => descendants(procs, server.child.pid), pss: true },
  ]);
  return {
    mode: 'standalone',
    httpUrl,
    authUrl: httpUrl,
    deviceUrls: [`tcp://127.0.0.1:${devicePort}`],
    adminEnv: { BOREALIS_DATA_DIR: env.BOREALIS_DATA_DIR },
    metricsUrls: [`${httpUrl}/metrics`],
    adminServer: httpUrl,
    monitor,
    work,
    profiles,
    async stop() {
      monitor.stop();
      await server.stop();
      rmSync(work, { recursive: true, force: true });
    },
  };
}

async function startDistributed(o, variantEnv) {
  const { createTestDatabase, freePort } = dist('testing');
  const { randomToken } = dist('util');
  const brokerSettings = Object.fromEntries(Object.entries(variantEnv).filter(([k]) => k.startsWith('broker.')).map(([k, v]) => [k.slice('broker.'.length), v]));
  const serverCli = variantEnv.dist ? path.join(path.resolve(variantEnv.dist), 'apps', 'cli', 'src', 'main.js') : o.serverCli;
  variantEnv = Object.fromEntries(Object.entries(variantEnv).filter(([k]) => !k.startsWith('broker.') && k !== 'dist'));
  const broker = await startBroker(o, brokerSettings);
  const kafka = broker.brokers;
  const redis = process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379';
  const work = mkdtempSync(path.join(os.tmpdir(), 'borealis-bench-e2e-'));
  const [authDb, coreDb] = [await createTestDatabase('bench_auth'), await createTestDatabase('bench_core')];
  const ports = { auth: await freePort(), gateway: await freePort(), core: await freePort(), transportHttp: await freePort(), device: await freePort() };
  const adminToken = randomToken(32);
  const gatewayUrl = `http://127.0.0.1:${ports.gateway}`;
  const common = {
    KAFKA_BROKERS: kafka,
    KAFKA_TOPIC_CREATION: 'admin',
    // Otherwise the services' production defaults (12 partitions, 100 ms fetch wait, 30 s session):
    // a real broker answers a fetch as soon as a record arrives, so the wait only paces idle polls.
    REDIS_URL: redis,
    HTTP_HOST: '127.0.0.1',
    // Settings files point the push API at the gateway; the benchmark sends token requests to auth.
    BOREALIS_PUBLIC_URL: gatewayUrl,
    LOG_LEVEL: 'warn',
  };
  const tag = randomToken(4).toLowerCase().replace(/[^a-z0-9]/g, 'x');
  const services = [
    ['auth', { HTTP_PORT: String(ports.auth), DATABASE_URL: authDb.url, BOREALIS_ADMIN_TOKEN: adminToken, SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'), BOREALIS_DEVICE_URL: `tcp://127.0.0.1:${ports.device}` }],
    [
      'gateway',
      {
        HTTP_PORT: String(ports.gateway),
        AUTH_JWKS_URL: `http://127.0.0.1:${ports.auth}/auth/public/.well-known/jwks.json`,
        PUSH_CORE_URL: `http://127.0.0.1:${ports.core}`,
        RATE_LIMIT_PER_SECOND: '1000000',
        RATE_LIMIT_BURST: '1000000',
        RATE_LIMIT_IP_PER_SECOND: '1000000',
        RATE_LIMIT_IP_BURST: '1000000',
      },
    ],
    ['push-core', { HTTP_PORT: String(ports.core), DATABASE_URL: coreDb.url }],
    [
      'transport',
      { HTTP_PORT: String(ports.transportHttp), TRANSPORT_INSTANCE_ID: `bench-${tag}`, DEVICE_HOST: '127.0.0.1', DEVICE_PORT: String(ports.device), DEVICE_CREDENTIAL_SECRET: adminToken, ...DEVICE_SOURCE_LIMITS_OFF },
    ],
  ];
  const started = performance.now();
  if (Object.keys(variantEnv).length > 0) log(`distributed with ${Object.entries(variantEnv).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  if (Object.keys(brokerSettings).length > 0) log(`broker with ${Object.entries(brokerSettings).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  if (serverCli !== o.serverCli) log(`servers from ${serverCli}`);
  const profiles = [];
  const procs = services.map(([service, env]) => spawnJson(['serve', '--service', service], { ...common, ...env, ...variantEnv }, service, nodeFlags(o, service, profiles), serverCli));
  try {
    await Promise.all(procs.map((p) => p.waitFor((l) => l.event === 'ready', 120_000, 'ready')));
    for (const port of [ports.auth, ports.gateway, ports.core, ports.transportHttp]) await waitReady(`http://127.0.0.1:${port}/readyz`, 60_000);
  } catch (err) {
    await Promise.all(procs.map((p) => p.stop()));
    await Promise.all([authDb.drop(), coreDb.drop()]);
    await broker.stop();
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
  log(`distributed ready in ${((performance.now() - started) / 1000).toFixed(1)} s (Kafka ${broker.version} at ${kafka})`);
  const dbNames = [authDb.name, coreDb.name];
  const monitor = new ProcessMonitor([
    ...procs.map((p) => ({ name: p.name, pids: () => [p.child.pid] })),
    // Only the backends serving this installation's databases (the server's own processes are shared).
    { name: 'postgres (its backends)', pids: (all) => all.filter((p) => p.comm === 'postgres' && dbNames.some((d) => cmdline(p.pid).includes(d))).map((p) => p.pid), pss: true },
    { name: 'redis-server (shared)', pids: (all) => all.filter((p) => p.comm === 'redis-server').map((p) => p.pid) },
    // The JVM's own pid (not its watchdog shell); none when KAFKA_BROKERS named another broker.
    ...(broker.pid ? [{ name: `kafka broker (JVM, ${o.brokerHeapMb} MB heap)`, pids: () => [broker.pid], threads: true }] : []),
  ]);
  return {
    mode: 'distributed',
    httpUrl: gatewayUrl,
    authUrl: `http://127.0.0.1:${ports.auth}`,
    deviceUrls: [`tcp://127.0.0.1:${ports.device}`],
    adminEnv: { BOREALIS_ADMIN_TOKEN: adminToken, SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') },
    metricsUrls: [ports.gateway, ports.core, ports.transportHttp].map((port) => `http://127.0.0.1:${port}/metrics`),
    adminServer: `http://127.0.0.1:${ports.auth}`,
    monitor,
    work,
    profiles,
    async stop() {
      monitor.stop();
      await Promise.all(procs.map((p) => p.stop()));
      await Promise.all([authDb.drop(), coreDb.drop()]);
      await broker.stop();
      rmSync(work, { recursive: true, force: true });
    },
  };
}

/** A real Kafka broker of the system's own (stopped with it), or the one KAFKA_BROKERS names. */
async function startBroker(o, { jvm, ...serverProperties } = {}) {
  const jvmFlags = [...(jvm ? jvm.split(' ').filter(Boolean) : []), ...(o.cpuProf && !process.env.KAFKA_BROKERS ? [jfrFlag(o.cpuProf)] : [])];
  const broker = await startBenchBroker({ heapMb: o.brokerHeapMb, serverProperties, jvmFlags, log });
  cleanups.push(broker.stop);
  return broker;
}

async function waitReady(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.status === 200) return;
      last = `${res.status} ${(await res.text()).slice(0, 500)}`;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready within ${timeoutMs} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// ---------------------------------------------------------------------------------------------
// Project, applications, devices

async function connectDevices(system, devices, regsPerApp, connectRate) {
  const { loadProjectSettings, PushServerClient } = dist('server-sdk');
  const out = path.join(system.work, 'project');
  const quick = await runCli(['admin', 'quickstart', '--out', out, '--server', system.adminServer, '--name', 'bench'], system.adminEnv);
  const token = system.adminEnv.BOREALIS_ADMIN_TOKEN ?? JSON.parse(readFileSync(path.join(system.adminEnv.BOREALIS_DATA_DIR, 'secrets.json'), 'utf8')).adminToken;
  const appCount = Math.ceil(devices / regsPerApp);
  const apps = [quick.application_id];
  while (apps.length < appCount) {
    const batch = Array.from({ length: Math.min(50, appCount - apps.length) }, (_, i) => adminCall(system.adminServer, token, 'POST', `/projects/${quick.project_id}/applications`, { name: `bench-${apps.length + i}` }));
    apps.push(...(await Promise.all(batch)).map((a) => a.id));
  }
  const settings = loadProjectSettings(quick.settings);
  // Token requests go to auth, pushes to the gateway (standalone: both the one HTTP port).
  const route = (url) => {
    const u = new URL(String(url));
    const base = new URL(u.pathname.startsWith('/auth/') ? system.authUrl : system.httpUrl);
    u.protocol = base.protocol;
    u.host = base.host;
    return u.toString();
  };
  const client = new PushServerClient(settings, { fetch: (url, init) => fetch(route(url), init) });

  const processes = Math.max(1, Math.min(4, Math.ceil(devices / 5000)));
  const loadgen = spawnJson(
    ['loadgen', '--devices', String(devices), '--processes', String(processes), '--rate', connectRate, '--receipts', ...system.deviceUrls.flatMap((u) => ['--server', u]), '--apps', '1', ...apps.flatMap((a) => ['--app', a])],
    {},
    'loadgen',
  );
  cleanups.push(() => loadgen.stop());
  const registrations = new Map(); // registrationId -> applicationId
  const byApp = new Map(); // applicationId -> registrationIds
  const receipts = new Receipts();
  loadgen.on((l) => {
    if (process.env.BENCH_DEBUG && l.event !== 'receipts') log(`loadgen: ${JSON.stringify(l).slice(0, 200)}`);
    if (l.event === 'registrations') {
      for (const [app, reg] of l.items) {
        registrations.set(reg, app);
        if (!byApp.has(app)) byApp.set(app, []);
        byApp.get(app).push(reg);
      }
    } else if (l.event === 'receipts') {
      receipts.add(l.items);
    }
  });
  const started = performance.now();
  const done = await loadgen.waitFor((l) => l.event === 'progress' && l.registered + l.registrationErrors >= devices, 600_000, `${devices} registrations`);
  if (done.registrationErrors > 0) {
    throw new Error(`${done.registrationErrors} of ${devices} devices could not register after retries:\n${loadgen.tail()}`);
  }
  // The last registrations line may trail the progress line by one report.
  while (registrations.size < devices) await new Promise((r) => setTimeout(r, 100));
  log(`${devices} devices connected and registered (${apps.length} applications × ${regsPerApp}) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  system.monitor.add({ name: 'load generator (devices)', pids: (all) => [loadgen.child.pid, ...descendants(all, loadgen.child.pid)] });
  const accessToken = await client.getAccessToken();
  return { client, projectId: quick.project_id, apps, registrations: [...registrations.keys()], byApp, receipts, accessToken, loadgen };
}

async function adminCall(server, token, method, p, body) {
  const res = await fetch(`${server}/auth/admin/v1${p}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
  return res.json();
}

function runCli(args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`borealis ${args.join(' ')} exited ${code}: ${err}`));
      resolve(JSON.parse(out.trim().split('\n').pop()));
    });
  });
}

/** Every notification the devices printed: message id → [registrationId, receivedAtMs][]. */
class Receipts {
  constructor() {
    this.byMessage = new Map();
    this.count = 0;
  }
  add(items) {
    for (const [id, reg, at] of items) {
      let list = this.byMessage.get(id);
      if (!list) this.byMessage.set(id, (list = []));
      list.push([reg, at]);
      this.count++;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// One offered rate

async function sweep(system, fleet, o, measure) {
  const runs = [];
  const passes = (r) => r.lost === 0 && r.duplicates === 0 && r.errors === 0 && r.accepted >= r.sent * 0.999 && r.p99 < o.p99Ms && r.lateStarts < 0.01;
  let good = 0;
  let bad = Infinity;
  let rate = o.sweepStart;
  while (rate < bad && runs.length < 12) {
    const run = await measure(rate);
    runs.push(run);
    if (passes(run)) good = Math.max(good, rate);
    else bad = Math.min(bad, rate);
    if (!passes(run)) log(`  not sustained: ${whyNot(run, o).join(', ')}`);
    if (bad === Infinity) rate = Math.round(rate * 1.5);
    else if (bad / Math.max(good, 1) > 1.15) rate = Math.round(good === 0 ? bad / 2 : (good + bad) / 2);
    else break;
  }
  log(`highest rate sustained with p99 < ${o.p99Ms} ms: ${good || 'none'}/s`);
  // --repeat N: that rate N - 1 more times, so that its figures are medians (the machine is noisy).
  for (let i = 1; good > 0 && i < o.repeat; i++) runs.push(await measure(good));
  for (const r of runs) r.sustained = passes(r);
  return runs;
}

/** Why a run does not count as sustained (the sweep's conditions). */
function whyNot(r, o) {
  const why = [];
  if (r.p99 >= o.p99Ms) why.push(`p99 ${ms(r.p99)} ms`);
  if (r.lost || r.duplicates) why.push(`${r.lost} lost, ${r.duplicates} duplicates`);
  if (r.errors || r.accepted < r.sent * 0.999) why.push(`${r.sent - r.accepted} not accepted`);
  if (r.lateStarts >= 0.01) why.push(`the sender started ${(r.lateStarts * 100).toFixed(1)} % of the sends over 10 ms late (the machine is short of CPU)`);
  return why;
}

async function runAtRate(system, fleet, rate, o) {
  const { client, projectId, receipts } = fleet;
  const total = Math.max(1, Math.round(rate * (o.seconds + o.warmup)));
  const warmupCount = Math.round(rate * o.warmup);
  const targets = o.type === 'device' ? fleet.registrations : fleet.apps;
  // A multicast names the registrations of one application, the same recipients as an application send.
  const recipients = o.type === 'multicast' ? Object.fromEntries(fleet.apps.map((app) => [app, fleet.byApp.get(app)])) : undefined;
  const deliveredBefore = await deliveredCount(client);
  const handlersBefore = await busHandlers(system);
  system.monitor.begin();
  const windowFromUs = Number(process.hrtime.bigint() / 1000n);
  const ownCpu0 = process.cpuUsage();
  log(`offering ${rate}/s for ${o.warmup} + ${o.seconds} s (${total} pushes to ${o.type} targets), load average ${os.loadavg()[0].toFixed(2)}`);
  const messages = `${system.httpUrl}/push/public/api/v1/projects/${projectId}/messages`;
  const { sent, driver } = await drive({ url: o.type === 'multicast' ? `${messages}/multicast` : messages, token: fleet.accessToken, rate, total, targets, type: o.type, recipients });
  const sendEnd = performance.timeOrigin + performance.now();
  // Join: every accepted message with its receipts.
  const accepted = sent.filter((s) => s.status === 200);
  const expected = (s) => (o.type === 'device' ? [s.target] : fleet.byApp.get(s.target));
  const expectedDeliveries = accepted.reduce((n, s) => n + expected(s).length, 0);
  // Wait as long as receipts keep coming (an overloaded run drains slowly); give up after 30 s
  // without any: what has not arrived then counts as lost.
  let deadline = Date.now() + 30_000;
  let lastCount = receipts.count;
  const received = () => accepted.reduce((n, s) => n + Math.min(expected(s).length, new Set((receipts.byMessage.get(s.id) ?? []).map((r) => r[0])).size), 0);
  while (received() < expectedDeliveries && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    if (receipts.count !== lastCount) [lastCount, deadline] = [receipts.count, Date.now() + 30_000];
  }
  deadline = Date.now() + 30_000;
  const allReceived = performance.timeOrigin + performance.now();
  // "Delivered" in the Push DB: every receipt acknowledged and counted.
  let delivered = await deliveredCount(client);
  while (delivered - deliveredBefore < expectedDeliveries && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    const now = await deliveredCount(client);
    if (now !== delivered) deadline = Date.now() + 30_000;
    delivered = now;
  }
  const dbDone = performance.timeOrigin + performance.now();
  await new Promise((r) => setTimeout(r, 300)); // stray duplicates arriving late still count
  const usage = system.monitor.end();
  const windowToUs = Number(process.hrtime.bigint() / 1000n);
  const handlers = diffHandlers(await busHandlers(system), handlersBefore);
  const ownCpu = process.cpuUsage(ownCpu0);

  const worstPerSecond = [];
  for (const s of accepted) {
    const got = receipts.byMessage.get(s.id);
    if (!got) continue;
    const second = Math.floor((s.scheduledAt - sent[0].scheduledAt) / 1000);
    worstPerSecond[second] = Math.max(worstPerSecond[second] ?? 0, ...got.map(([, at]) => at - s.scheduledAt));
  }
  const latencies = [];
  let firstReceipts = 0;
  let lost = 0;
  let duplicates = 0;
  let misrouted = 0;
  let lastReceipt = 0;
  for (const s of accepted) {
    const want = new Set(expected(s));
    const got = receipts.byMessage.get(s.id) ?? [];
    const seen = new Set();
    for (const [reg, at] of got) {
      if (!want.has(reg)) misrouted++;
      else if (seen.has(reg)) duplicates++;
      else {
        seen.add(reg);
        firstReceipts++;
        if (s.i >= warmupCount) latencies.push(at - s.scheduledAt);
        lastReceipt = Math.max(lastReceipt, at);
      }
    }
    lost += want.size - seen.size;
    receipts.byMessage.delete(s.id);
  }
  latencies.sort((a, b) => a - b);
  const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] : NaN);
  const t0 = sent.length ? sent[0].scheduledAt : sendEnd;
  const errors = sent.length - accepted.length;
  const statuses = {};
  for (const s of sent) if (s.status !== 200) statuses[s.status] = (statuses[s.status] ?? 0) + 1;
  const result = {
    offered: rate,
    sent: sent.length,
    accepted: accepted.length,
    errors,
    statuses,
    acceptedPerSecond: accepted.length / ((sendEnd - t0) / 1000),
    deliveredPerSecond: firstReceipts / ((Math.max(lastReceipt, t0 + 1) - t0) / 1000),
    deliveries: firstReceipts,
    lost,
    duplicates,
    misrouted,
    dbDelivered: delivered - deliveredBefore,
    dbLagMs: Math.max(0, dbDone - allReceived),
    p50: pct(50),
    p95: pct(95),
    p99: pct(99),
    max: latencies.length ? latencies[latencies.length - 1] : NaN,
    handlers,
    worstPerSecond: Array.from(worstPerSecond, (v) => Math.round(v ?? 0)),
    postP99: percentile(accepted.map((s) => s.answeredAt - s.scheduledAt), 99),
    lateStarts: sent.filter((s) => s.startedAt - s.scheduledAt > 10).length / Math.max(1, sent.length),
    windowUs: [windowFromUs, windowToUs],
    processes: [
      ...usage,
      { name: 'app server (HTTP sender)', cpuSeconds: driver.cpuSeconds, peakRssMb: driver.peakRssMb },
      { name: 'benchmark bookkeeping', cpuSeconds: (ownCpu.user + ownCpu.system) / 1e6, peakRssMb: process.resourceUsage().maxRSS / 1024 },
    ],
  };
  log(
    `  accepted ${result.accepted}/${result.sent} (${fmt(result.acceptedPerSecond)}/s), delivered ${result.deliveries} (${fmt(result.deliveredPerSecond)}/s), ` +
      `p50 ${ms(result.p50)} p95 ${ms(result.p95)} p99 ${ms(result.p99)} max ${ms(result.max)} ms (HTTP answer p99 ${ms(result.postP99)} ms), lost ${lost}, duplicates ${duplicates}, errors ${errors} ${JSON.stringify(statuses)}, Push DB delivered ${result.dbDelivered}`,
  );
  log(`  worst latency per second of sending (ms): ${result.worstPerSecond.join(' ')}`);
  // Let the system go quiet before the next rate.
  await new Promise((r) => setTimeout(r, 1000));
  return result;
}

// ---------------------------------------------------------------------------------------------
// The baseline: a bare Fastify handler under the same client, and where the servers' CPU goes

/** Processes that are the installation (the rest are the benchmark's clients and bookkeeping). */
const CLIENT_PROCESSES = new Set(['load generator (devices)', 'app server (HTTP sender)', 'benchmark bookkeeping']);
const serverCpuSeconds = (run) => run.processes.filter((p) => !CLIENT_PROCESSES.has(p.name)).reduce((n, p) => n + p.cpuSeconds, 0);

async function startBare() {
  const server = spawnJson([], {}, 'bare fastify', [], path.join(import.meta.dirname, 'lib', 'bare-fastify.mjs'));
  cleanups.push(() => server.stop());
  const { port } = await server.waitFor((l) => l.event === 'ready', 30_000, 'ready');
  return { server, url: `http://127.0.0.1:${port}/push/public/api/v1/projects/bare/messages`, monitor: new ProcessMonitor([{ name: 'bare fastify', pids: () => [server.child.pid] }]) };
}

/** The same offered rate, length, bodies and client as the run just measured, against the bare server. */
async function runBare(bare, fleet, rate, o) {
  const total = Math.max(1, Math.round(rate * (o.seconds + o.warmup)));
  const targets = o.type === 'device' ? fleet.registrations : fleet.apps;
  // The same bodies as the run's (a multicast's list of registrations included).
  const recipients = o.type === 'multicast' ? Object.fromEntries(fleet.apps.map((app) => [app, fleet.byApp.get(app)])) : undefined;
  bare.monitor.begin();
  const { sent } = await drive({ url: bare.url, token: fleet.accessToken, rate, total, targets, type: o.type, recipients });
  const [usage] = bare.monitor.end();
  const ok = sent.filter((s) => s.status === 200).length;
  const result = { requests: sent.length, ok, cpuSeconds: usage.cpuSeconds, cpuMicrosPerRequest: (usage.cpuSeconds * 1e6) / Math.max(1, ok), p99: percentile(sent.map((s) => s.answeredAt - s.scheduledAt), 99) };
  log(`  bare Fastify at ${rate}/s: ${ok}/${sent.length} answered 200, ${fmt(result.cpuMicrosPerRequest)} µs of CPU per request, answer p99 ${ms(result.p99)} ms`);
  await new Promise((r) => setTimeout(r, 500));
  return result;
}

/** The wrk script: POSTs the benchmark's push body to each target in turn, with the access token. */
function wrkScript(dir, targets, token) {
  const file = path.join(dir, `wrk-${randomBytes(3).toString('hex')}.lua`);
  const message = 'A short message body of the length most pushes have, about a hundred characters.';
  writeFileSync(
    file,
    [
      `local targets = {${targets.map((t) => JSON.stringify(t)).join(',')}}`,
      'local i = 0',
      `wrk.method = "POST"`,
      `wrk.headers["Content-Type"] = "application/json"`,
      `wrk.headers["Authorization"] = ${JSON.stringify(`Bearer ${token}`)}`,
      'request = function()',
      '  i = i + 1',
      `  local body = '{"target":"' .. targets[(i % #targets) + 1] .. '","type":"device","ttl":"1h","notification":{"title":"Benchmark","message":"${message}","data":{"seq":' .. i .. '}}}'`,
      '  return wrk.format(nil, nil, nil, body)',
      'end',
      '',
    ].join('\n'),
  );
  return file;
}

/** Runs wrk; resolves with its counts and HTTP latency percentiles (from `--latency`). */
function runWrkProcess(url, script, seconds, connections, onPid) {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', ['-t', '2', '-c', String(connections), '-d', `${seconds}s`, '--latency', '-s', script, url], { stdio: ['ignore', 'pipe', 'pipe'] });
    onPid(child.pid);
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.on('exit', (code) => {
      onPid(null);
      if (code !== 0) return reject(new Error(`wrk exited ${code}: ${out}`));
      const num = (re) => {
        const m = re.exec(out);
        return m ? Number(m[1]) : 0;
      };
      const latency = (p) => {
        const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out);
        return m ? Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]] : NaN;
      };
      const requests = num(/(\d+) requests in/);
      const non2xx = num(/Non-2xx or 3xx responses: (\d+)/);
      const socketErrors = [...out.matchAll(/(connect|read|write|timeout) (\d+)/g)].reduce((n, m) => n + Number(m[2]), 0);
      resolve({ requests, ok: requests - non2xx, non2xx, socketErrors, p50: latency(50), p99: latency(99), text: out });
    });
  });
}

/**
 * The issue-18 setting: wrk's closed loop for --seconds against the push API, device targets. The
 * Push DB's `accepted` count says how many the server took (wrk counts only the answers it read);
 * all of them must be delivered once: received by the devices and `delivered` in the Push DB.
 */
async function runWrk(system, fleet, o) {
  const { client, receipts } = fleet;
  const counts = async () => (await client.getStats()).days.reduce((n, d) => ({ accepted: n.accepted + d.accepted, delivered: n.delivered + d.delivered }), { accepted: 0, delivered: 0 });
  const before = await counts();
  receipts.byMessage.clear();
  const script = wrkScript(system.work, fleet.registrations, fleet.accessToken);
  let wrkPid = null;
  const sender = { name: 'app server (HTTP sender)', pids: () => (wrkPid ? [wrkPid] : []) };
  system.monitor.add(sender);
  system.monitor.begin();
  const windowFromUs = Number(process.hrtime.bigint() / 1000n);
  log(`wrk, ${o.connections} connections, ${o.seconds} s, device targets, load average ${os.loadavg()[0].toFixed(2)}`);
  const t0 = Date.now();
  const wrk = await runWrkProcess(`${system.httpUrl}/push/public/api/v1/projects/${fleet.projectId}/messages`, script, o.seconds, o.connections, (pid) => (wrkPid = pid ?? wrkPid));
  const sendSeconds = (Date.now() - t0) / 1000;
  // Until the Push DB counts every accepted push delivered (30 s without progress: the rest is lost).
  let after = await counts();
  let deadline = Date.now() + 30_000;
  while (after.delivered - before.delivered < after.accepted - before.accepted && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    const now = await counts();
    if (now.delivered !== after.delivered) deadline = Date.now() + 30_000;
    after = now;
  }
  await new Promise((r) => setTimeout(r, 300)); // late duplicates still count
  const usage = system.monitor.end();
  const windowToUs = Number(process.hrtime.bigint() / 1000n);
  system.monitor.groups = system.monitor.groups.filter((g) => g.name !== sender.name);
  let firstReceipts = 0;
  let duplicates = 0;
  for (const got of receipts.byMessage.values()) {
    const regs = new Set(got.map(([reg]) => reg));
    firstReceipts += regs.size;
    duplicates += got.length - regs.size;
  }
  receipts.byMessage.clear();
  const accepted = after.accepted - before.accepted;
  const result = {
    offered: `wrk ${o.connections} connections`,
    sent: wrk.requests,
    accepted,
    errors: wrk.non2xx + wrk.socketErrors,
    statuses: {},
    acceptedPerSecond: accepted / sendSeconds,
    deliveredPerSecond: firstReceipts / sendSeconds,
    deliveries: firstReceipts,
    lost: Math.max(0, accepted - firstReceipts),
    duplicates,
    misrouted: 0,
    dbDelivered: after.delivered - before.delivered,
    dbLagMs: NaN,
    p50: NaN,
    p95: NaN,
    p99: NaN,
    max: NaN,
    httpP50: wrk.p50,
    httpP99: wrk.p99,
    handlers: [],
    worstPerSecond: [],
    postP99: wrk.p99,
    lateStarts: 0,
    windowUs: [windowFromUs, windowToUs],
    processes: usage,
  };
  log(`  wrk: ${wrk.requests} answered (${wrk.non2xx} not 2xx, ${wrk.socketErrors} socket errors), Push DB accepted ${accepted} (${fmt(result.acceptedPerSecond)}/s), devices received ${firstReceipts}, duplicates ${duplicates}, Push DB delivered ${result.dbDelivered}, HTTP p50 ${ms(wrk.p50)} p99 ${ms(wrk.p99)} ms`);
  await new Promise((r) => setTimeout(r, 1000));
  return result;
}

/** The bare Fastify handler under the same wrk loop, same bodies, same length. */
async function runBareWrk(bare, fleet, o, dir) {
  const script = wrkScript(dir, fleet.registrations, fleet.accessToken);
  bare.monitor.begin();
  const wrk = await runWrkProcess(bare.url, script, o.seconds, o.connections, () => undefined);
  const [usage] = bare.monitor.end();
  const result = { requests: wrk.requests, ok: wrk.ok, cpuSeconds: usage.cpuSeconds, cpuMicrosPerRequest: (usage.cpuSeconds * 1e6) / Math.max(1, wrk.ok), p99: wrk.p99, perSecond: wrk.ok / o.seconds };
  log(`  bare Fastify under wrk: ${wrk.ok} answered 200 (${fmt(result.perSecond)}/s), ${fmt(result.cpuMicrosPerRequest)} µs of CPU per request, answer p99 ${ms(wrk.p99)} ms`);
  await new Promise((r) => setTimeout(r, 500));
  return result;
}

/** Once the system has stopped (V8 writes profiles on exit): each run's stages, µs per push. */
function addStages(system, runs) {
  const written = system.profiles.filter((file) => existsSync(file) || void log(`no CPU profile at ${file}`));
  const profiles = written.map((file) => JSON.parse(readFileSync(file, 'utf8')));
  for (const run of runs) {
    const [fromUs, toUs] = run.windowUs;
    const { ms: byStage, total } = sumStages(profiles.map((p) => stagesOf(p, { fromUs, toUs })));
    run.stages = Object.fromEntries(STAGES.filter((s) => byStage[s] > 0).map((s) => [s, (byStage[s] * 1000) / Math.max(1, run.accepted)]));
    run.stagesTotal = (total * 1000) / Math.max(1, run.accepted);
  }
}

/** Per topic and consumer group: records handled, handler calls (batches), seconds spent in them. */
async function busHandlers(system) {
  const out = new Map();
  const entry = (labels) => {
    const key = `${labels.topic} → ${labels.group}`;
    if (!out.has(key)) out.set(key, { records: 0, batches: 0, seconds: 0 });
    return out.get(key);
  };
  for (const url of system.metricsUrls) {
    const text = await (await fetch(url)).text();
    for (const m of text.matchAll(/^(borealis_bus_handler_duration_seconds_sum|borealis_bus_handler_duration_seconds_count|borealis_bus_consumed_records_total)\{([^}]*)\} (\S+)$/gm)) {
      const labels = Object.fromEntries([...m[2].matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
      if (m[1].endsWith('_sum')) entry(labels).seconds += Number(m[3]);
      else if (m[1].endsWith('_count')) entry(labels).batches += Number(m[3]);
      else if (labels.outcome === 'ok') entry(labels).records += Number(m[3]);
    }
  }
  return out;
}

function diffHandlers(after, before) {
  const out = [];
  for (const [key, a] of after) {
    const b = before.get(key) ?? { records: 0, batches: 0, seconds: 0 };
    const d = { handler: key, records: a.records - b.records, batches: a.batches - b.batches, seconds: a.seconds - b.seconds };
    if (d.batches > 0) out.push(d);
  }
  return out.sort((x, y) => y.seconds - x.seconds);
}

async function deliveredCount(client) {
  const stats = await client.getStats();
  return stats.days.reduce((n, d) => n + d.delivered, 0);
}

function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Runs the sender in its own process (its CPU is the app server's, not the benchmark's bookkeeping). */
function drive(plan) {
  return new Promise((resolve, reject) => {
    const child = fork(import.meta.filename, [], { env: { ...process.env, BENCH_ROLE: 'driver' }, serialization: 'advanced' });
    child.on('message', (m) => {
      if (m.sent) resolve(m);
    });
    child.on('exit', (code) => code !== 0 && reject(new Error(`driver exited ${code}`)));
    child.send(plan);
  });
}

// ---------------------------------------------------------------------------------------------
// Driver (its own process): open-model sender

function runDriver() {
  process.once('message', async (plan) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 512 });
    const url = new URL(plan.url);
    const interval = 1000 / plan.rate;
    const sent = new Array(plan.total);
    let next = 0;
    let done = 0;
    const now = () => performance.timeOrigin + performance.now();
    const t0 = now() + 50;
    const finished = new Promise((resolve) => {
      const send = (i) => {
        const target = plan.targets[i % plan.targets.length];
        const notification = { title: 'Benchmark', message: 'A short message body of the length most pushes have, about a hundred characters.', data: { seq: i } };
        const body = JSON.stringify(plan.type === 'multicast' ? { registration_ids: plan.recipients[target], ttl: '1h', notification } : { target, type: plan.type, ttl: '1h', notification });
        const entry = { i, target, scheduledAt: t0 + i * interval, startedAt: now(), answeredAt: 0, status: 0, id: '' };
        sent[i] = entry;
        const req = request(
          { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${plan.token}` } },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c) => (text += c));
            res.on('end', () => {
              entry.answeredAt = now();
              entry.status = res.statusCode;
              if (res.statusCode === 200) entry.id = JSON.parse(text).id;
              if (++done === plan.total) resolve();
            });
          },
        );
        req.on('error', () => {
          entry.answeredAt = now();
          entry.status = -1;
          if (++done === plan.total) resolve();
        });
        req.end(body);
      };
      const tick = () => {
        const t = now();
        while (next < plan.total && t0 + next * interval <= t) send(next++);
        if (next < plan.total) setTimeout(tick, Math.max(0, Math.min(5, t0 + next * interval - now())));
      };
      setTimeout(tick, 50);
    });
    await finished;
    const cpu = process.cpuUsage();
    const driver = { cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssMb: process.resourceUsage().maxRSS / 1024 };
    process.send({ sent, driver }, () => process.exit(0));
  });
}

// ---------------------------------------------------------------------------------------------
// CPU and memory per process, from /proc

function readProcs() {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const f = stat.slice(close + 2).split(' ');
      out.push({ pid: Number(name), comm, ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), rssPages: Number(f[21]) });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function descendants(procs, root) {
  const children = new Map();
  for (const p of procs) {
    if (!children.has(p.ppid)) children.set(p.ppid, []);
    children.get(p.ppid).push(p.pid);
  }
  const out = [];
  const stack = [...(children.get(root) ?? [])];
  while (stack.length) {
    const pid = stack.pop();
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

const cmdlines = new Map();
function cmdline(pid) {
  if (!cmdlines.has(pid)) {
    try {
      cmdlines.set(pid, readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    } catch {
      cmdlines.set(pid, '');
    }
  }
  return cmdlines.get(pid);
}

function pssKb(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** CPU ticks of each thread of a process, by thread id, with the thread's name. */
function threadTicks(pid) {
  const out = new Map();
  if (!pid) return out;
  let tids = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const f = stat.slice(close + 2).split(' ');
      out.set(tid, { name: stat.slice(stat.indexOf('(') + 1, close), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

/** Samples groups of processes: CPU seconds between begin() and end(), peak memory meanwhile. */
class ProcessMonitor {
  constructor(groups) {
    this.groups = groups.map((g) => ({ ...g, base: new Map(), last: new Map(), peakKb: 0 }));
    this.timer = null;
    this.page = 4;
  }
  add(group) {
    this.groups.push({ ...group, base: new Map(), last: new Map(), peakKb: 0 });
  }
  sample(first = false) {
    const procs = readProcs();
    for (const g of this.groups) {
      const pids = new Set(g.pids(procs));
      let kb = 0;
      for (const p of procs) {
        if (!pids.has(p.pid)) continue;
        if (first || !g.base.has(p.pid)) g.base.set(p.pid, first ? p.ticks : 0);
        g.last.set(p.pid, p.ticks);
        kb += g.pss ? pssKb(p.pid) : p.rssPages * this.page;
      }
      g.peakKb = Math.max(g.peakKb, kb);
      g.nowKb = kb;
    }
  }
  snapshot() {
    this.sample(true);
    return Object.fromEntries(this.groups.map((g) => [g.name, g.nowKb / 1024]));
  }
  begin() {
    for (const g of this.groups) {
      g.base.clear();
      g.last.clear();
      g.peakKb = 0;
      if (g.threads) g.threadBase = threadTicks(g.pids([])[0]);
    }
    this.sample(true);
    this.timer = setInterval(() => this.sample(), 250);
  }
  end() {
    clearInterval(this.timer);
    this.timer = null;
    this.sample();
    const out = this.groups.map((g) => {
      let ticks = 0;
      for (const [pid, last] of g.last) ticks += last - (g.base.get(pid) ?? 0);
      const result = { name: g.name, cpuSeconds: ticks / CLK_TCK, peakRssMb: g.peakKb / 1024 };
      if (g.threads) {
        // CPU per kind of thread (the JVM names its threads: network, request handlers, JIT, GC, ...).
        const byKind = new Map();
        for (const [tid, t] of threadTicks(g.pids([])[0])) {
          const kind = t.name.replace(/\d+/g, '#');
          byKind.set(kind, (byKind.get(kind) ?? 0) + t.ticks - (g.threadBase.get(tid)?.ticks ?? 0));
        }
        result.threads = [...byKind].map(([kind, t]) => ({ kind, cpuSeconds: t / CLK_TCK })).filter((t) => t.cpuSeconds > 0).sort((a, b) => b.cpuSeconds - a.cpuSeconds);
      }
      return result;
    });
    return out;
  }
  stop() {
    clearInterval(this.timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Output

const fmt = (n) => (typeof n === 'string' ? n : Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
/** A run's offered load: a rate, or wrk's closed loop. */
const offeredText = (offered) => (typeof offered === 'string' ? `under ${offered}` : `at ${fmt(offered)}/s`);
const ms = (n) => (Number.isFinite(n) ? n.toFixed(1) : '-');

function printTable(results, o) {
  const lines = [];
  lines.push('');
  lines.push(`| mode | devices | regs/app | offered/s | accepted/s | delivered/s | p50 ms | p95 ms | p99 ms | max ms | errors | lost | dup | p99 < ${o.p99Ms} ms |`);
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    lines.push(
      `| ${r.label} | ${fmt(r.devices)} | ${fmt(r.regsPerApp)} | ${fmt(r.offered)} | ${fmt(r.acceptedPerSecond)} | ${fmt(r.deliveredPerSecond)} | ${ms(r.p50)} | ${ms(r.p95)} | ${ms(r.p99)} | ${ms(r.max)} | ${r.errors} | ${r.lost} | ${r.duplicates} | ${r.p99 < o.p99Ms && r.lost === 0 ? 'yes' : 'no'} |`,
    );
  }
  lines.push('');
  lines.push('| mode | devices | regs/app | offered/s | process | CPU s | CPU µs/push | CPU µs/delivery | peak RSS MB |');
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    for (const p of r.processes) {
      lines.push(`| ${r.label} | ${fmt(r.devices)} | ${fmt(r.regsPerApp)} | ${fmt(r.offered)} | ${p.name} | ${p.cpuSeconds.toFixed(2)} | ${fmt((p.cpuSeconds * 1e6) / Math.max(1, r.accepted))} | ${fmt((p.cpuSeconds * 1e6) / Math.max(1, r.deliveries))} | ${fmt(p.peakRssMb)} |`);
    }
  }
  lines.push('');
  lines.push('| mode | devices | offered/s | topic → consumer group | records | handler calls | records/call | handler busy s |');
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    for (const h of r.handlers) lines.push(`| ${r.label} | ${fmt(r.devices)} | ${fmt(r.offered)} | ${h.handler} | ${fmt(h.records)} | ${fmt(h.batches)} | ${(h.records / h.batches).toFixed(1)} | ${h.seconds.toFixed(2)} |`);
  }
  lines.push('');
  const withThreads = results.filter((r) => r.processes.some((p) => p.threads));
  if (withThreads.length > 0) {
    lines.push('| mode | devices | offered/s | process | threads (Linux names, digits as #): CPU µs/push, the largest first |');
    lines.push('| --- | --- | --- | --- | --- |');
    for (const r of withThreads) {
      for (const p of r.processes.filter((x) => x.threads)) {
        const top = p.threads.slice(0, 8).map((t) => `${t.kind} ${fmt((t.cpuSeconds * 1e6) / Math.max(1, r.accepted))}`);
        lines.push(`| ${r.label} | ${fmt(r.devices)} | ${fmt(r.offered)} | ${p.name} | ${top.join('; ')} |`);
      }
    }
    lines.push('');
  }
  const withBare = results.filter((r) => r.bare);
  if (withBare.length > 0) {
    lines.push('| mode | devices | offered/s | server + PostgreSQL CPU µs/push | bare Fastify CPU µs/request | ratio | bare answer p99 ms |');
    lines.push('| --- | --- | --- | --- | --- | --- | --- |');
    for (const r of withBare) {
      const server = (serverCpuSeconds(r) * 1e6) / Math.max(1, r.accepted);
      lines.push(`| ${r.label} | ${fmt(r.devices)} | ${fmt(r.offered)} | ${fmt(server)} | ${fmt(r.bare.cpuMicrosPerRequest)} | ${(server / r.bare.cpuMicrosPerRequest).toFixed(2)} | ${ms(r.bare.p99)} |`);
    }
    lines.push('');
  }
  const withStages = results.filter((r) => r.stages);
  if (withStages.length > 0) {
    lines.push('| mode | devices | offered/s | stage (servers\' main threads, from the CPU profile): µs per push |');
    lines.push('| --- | --- | --- | --- |');
    for (const r of withStages) {
      const parts = Object.entries(r.stages).map(([s, us]) => `${s} ${us.toFixed(0)}`);
      lines.push(`| ${r.label} | ${fmt(r.devices)} | ${fmt(r.offered)} | ${parts.join('; ')}; total ${r.stagesTotal.toFixed(0)} |`);
    }
    lines.push('');
  }
  lines.push('| mode | devices | regs/app | process | RSS MB with the devices connected, before traffic |');
  lines.push('| --- | --- | --- | --- | --- |');
  const seen = new Set();
  for (const r of results) {
    const key = `${r.label}/${r.devices}/${r.regsPerApp}`;
    if (seen.has(key)) continue;
    seen.add(key);
    for (const [name, mb] of Object.entries(r.idleRss)) lines.push(`| ${r.label} | ${fmt(r.devices)} | ${fmt(r.regsPerApp)} | ${name} | ${fmt(mb)} |`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Each system's headline: with --sweep its run at the highest rate sustained (p99 under --p99-ms,
 * nothing lost or refused), with --rates the medians per rate over --repeat; then every other
 * system's rate as a ratio of standalone's (and a variant's of plain distributed's), measured in
 * this same run because the machine's speed drifts by ±25 % between runs.
 */
function printComparison(results, o) {
  const groups = new Map();
  for (const r of results) {
    const key = `${r.label}/${r.devices}/${r.regsPerApp}`;
    if (!groups.has(key)) groups.set(key, { label: r.label, mode: r.mode, devices: r.devices, regsPerApp: r.regsPerApp, runs: [] });
    groups.get(key).runs.push(r);
  }
  const summarize = (runs) => {
    const names = [...new Set(runs.flatMap((r) => r.processes.map((p) => p.name)))];
    const proc = (r, name) => r.processes.find((p) => p.name === name);
    return {
      offered: runs[0].offered,
      runs: runs.length,
      acceptedPerSecond: median(runs.map((r) => r.acceptedPerSecond)),
      deliveredPerSecond: median(runs.map((r) => r.deliveredPerSecond)),
      p50: median(runs.map((r) => r.p50)),
      p99: median(runs.map((r) => r.p99)),
      p99s: runs.map((r) => r.p99),
      lost: runs.reduce((n, r) => n + r.lost, 0),
      errors: runs.reduce((n, r) => n + r.errors, 0),
      serverMicrosPerPush: median(runs.map((r) => (serverCpuSeconds(r) * 1e6) / Math.max(1, r.accepted))),
      bareMicrosPerRequest: median(runs.map((r) => r.bare?.cpuMicrosPerRequest ?? NaN)),
      ratioToBare: median(runs.map((r) => (r.bare ? (serverCpuSeconds(r) * 1e6) / Math.max(1, r.accepted) / r.bare.cpuMicrosPerRequest : NaN))),
      processes: names.map((name) => ({
        name,
        cpuMicrosPerPush: median(runs.map((r) => ((proc(r, name)?.cpuSeconds ?? NaN) * 1e6) / Math.max(1, r.accepted))),
        peakRssMb: Math.max(...runs.map((r) => proc(r, name)?.peakRssMb ?? 0)),
      })),
    };
  };
  const out = [];
  for (const g of groups.values()) {
    if (o.sweep) {
      const best = g.runs.filter((r) => r.sustained).sort((a, b) => b.offered - a.offered)[0];
      const atBest = best ? g.runs.filter((r) => r.offered === best.offered) : [];
      const headline = best ? { ...summarize(atBest), sustainedRuns: atBest.filter((r) => r.sustained).length } : null;
      out.push({ ...g, runs: undefined, basis: `highest rate sustained (p99 < ${o.p99Ms} ms, nothing lost)`, headline: [headline] });
    } else {
      const rates = [...new Set(g.runs.map((r) => r.offered))];
      out.push({ ...g, runs: undefined, basis: o.repeat > 1 ? `medians of ${o.repeat} runs per rate` : 'one run per rate', headline: rates.map((rate) => summarize(g.runs.filter((r) => r.offered === rate))) });
    }
  }
  const lines = ['', `Headline per system (${o.sweep ? `the sweep's highest rate with p99 < ${o.p99Ms} ms and nothing lost${o.repeat > 1 ? `, medians of it and ${o.repeat - 1} more runs at that rate` : ''}` : out[0]?.basis ?? ''}):`, ''];
  lines.push('| mode | devices | offered/s | accepted/s | delivered/s | p50 ms | p99 ms | lost | all processes µs/push | CPU µs/push and peak RSS MB per process |');
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const s of out) {
    for (const h of s.headline) {
      if (!h) {
        lines.push(`| ${s.label} | ${fmt(s.devices)} | none sustained | | | | | | | |`);
        continue;
      }
      const total = h.processes.reduce((n, p) => n + (Number.isFinite(p.cpuMicrosPerPush) ? p.cpuMicrosPerPush : 0), 0);
      const per = h.processes.map((p) => `${p.name} ${fmt(p.cpuMicrosPerPush)} µs, ${fmt(p.peakRssMb)} MB`).join('; ');
      const sustained = h.sustainedRuns !== undefined && h.runs > 1 ? ` (sustained in ${h.sustainedRuns} of ${h.runs} runs)` : '';
      lines.push(`| ${s.label} | ${fmt(s.devices)} | ${fmt(h.offered)}${sustained} | ${fmt(h.acceptedPerSecond)} | ${fmt(h.deliveredPerSecond)} | ${ms(h.p50)} | ${ms(h.p99)}${h.runs > 1 ? ` (${h.p99s.map(ms).join(', ')})` : ''} | ${h.lost} | ${fmt(total)} | ${per} |`);
    }
  }
  for (const s of out) {
    for (const h of s.headline) {
      if (!h || !Number.isFinite(h.ratioToBare)) continue;
      lines.push('', `${s.label} ${offeredText(h.offered)}: server + PostgreSQL ${fmt(h.serverMicrosPerPush)} µs of CPU per push ÷ bare Fastify ${fmt(h.bareMicrosPerRequest)} µs per request = ${h.ratioToBare.toFixed(2)}${h.runs > 1 ? ` (median of ${h.runs} runs, each divided by its own baseline)` : ''}`);
    }
  }
  const ratios = [];
  const baselineOf = (s) => out.find((b) => b !== s && b.devices === s.devices && b.regsPerApp === s.regsPerApp && b.label === (s.label === 'distributed' ? 'standalone' : s.mode === 'distributed' ? 'distributed' : null));
  for (const s of out) {
    const base = baselineOf(s);
    if (!base) continue;
    if (o.sweep) {
      const [a, b] = [s.headline[0], base.headline[0]];
      const ratio = a && b ? a.offered / b.offered : NaN;
      ratios.push({ system: s.label, baseline: base.label, devices: s.devices, ratio, rate: a?.offered ?? 0, baselineRate: b?.offered ?? 0, p99: a?.p99 ?? NaN, baselineP99: b?.p99 ?? NaN });
      lines.push(
        '',
        `${s.label} ÷ ${base.label} (${fmt(s.devices)} devices), highest rate with p99 < ${o.p99Ms} ms and nothing lost: ${fmt(a?.offered ?? 0)}/s ÷ ${fmt(b?.offered ?? 0)}/s = ${Number.isFinite(ratio) ? ratio.toFixed(2) : '-'}` +
          ` (delivered ${fmt(a?.deliveredPerSecond)}/s vs ${fmt(b?.deliveredPerSecond)}/s, p99 ${ms(a?.p99)} vs ${ms(b?.p99)} ms${s.mode === 'distributed' && base.label === 'standalone' ? '; target ≥ 0.5' : ''})`,
      );
    } else {
      for (const a of s.headline) {
        const b = base.headline.find((h) => h.offered === a.offered);
        if (!b) continue;
        const ratio = a.deliveredPerSecond / b.deliveredPerSecond;
        ratios.push({ system: s.label, baseline: base.label, devices: s.devices, offered: a.offered, ratio, p99: a.p99, baselineP99: b.p99 });
        lines.push('', `${s.label} ÷ ${base.label} at ${fmt(a.offered)}/s offered (${fmt(s.devices)} devices): delivered ${fmt(a.deliveredPerSecond)}/s ÷ ${fmt(b.deliveredPerSecond)}/s = ${ratio.toFixed(2)}, p99 ${ms(a.p99)} vs ${ms(b.p99)} ms`);
      }
    }
  }
  process.stdout.write(lines.join('\n') + '\n');
  return { systems: out, ratios };
}

if (process.env.BENCH_ROLE === 'driver') {
  runDriver();
} else {
  main().catch((err) => {
    process.stderr.write(`[e2e] failed: ${err.stack ?? err}\n`);
    process.exitCode = 1;
  });
}
