// Transport benchmark: idle connections, memory per connection, broadcast and targeted delivery
// throughput per CPU core, reconnect time after a drain, and bytes on the wire, for the Borealis
// transport and, measured in the same run, a bare `net` server with 4-byte length framing.
//
//   npm run build && npm run bench -- transport [--devices 15000] [--clients 3] [--rounds 5] [--runs 3] [--dist dir] [--compare dir] [--ack]
//
// --ack: the Borealis devices acknowledge what they receive (one Ack per chunk read), as real
// devices do; by default they never do (the worst case for what a connection must remember).
//
// --compare DIR: a third server, instance C, runs that build (e.g. an older commit's dist/) and
// holds as many devices; its broadcast rounds alternate with the bare server's and A's, so the
// build before and after are compared in one run. Every second run swaps the builds' places (A
// runs the --compare build): A measured a build against itself about 0.95 of C, so
// broadcastVsCompare weighs both places alike (two runs or more) and placeBias says how far A's
// place moved its figures; this build's other figures come from the runs where it was A.
// cpuPerDeliveryUs splits each build's broadcast CPU into user and system time.
//
// One file, four roles (BENCH_ROLE): the orchestrator (default), `bare` (the baseline server),
// `borealis` (a transport instance: the real DeviceServer with an in-process bus and a presence
// stand-in that keeps nothing, as Redis holds presence in a deployment, so that nothing but the
// transport is measured), and `client` (a share of the devices, raw protocol, from its own loopback
// source address). Servers run with --expose-gc; memory is measured after a full GC before and
// after the devices connect: RSS, RSS without V8's young generation, and the JS heap in use
// (BENCH_HEAP_SNAPSHOT=dir writes heap snapshots at both points, to diff by constructor). Throughput is deliveries per CPU-second of the server
// process (process.cpuUsage), which other load on the machine does not inflate the way wall time is.
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { createConnection, createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sampleNotification } from './lib/sample-notification.mjs';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const require = createRequire(import.meta.url);
// BENCH_DIST (set from --dist): another build of the libraries for the transport instances, e.g. of an older commit, to compare.
const dist = (lib) => require(path.join(ROOT, 'dist', 'libs', lib, 'src', 'index.js'));
const serverDist = (lib) => require(path.join(process.env.BENCH_DIST ?? path.join(ROOT, 'dist'), 'libs', lib, 'src', 'index.js'));
const ROLE = process.env.BENCH_ROLE ?? 'orchestrator';
const HEARTBEAT_MS = 60_000;

// ---------------------------------------------------------------------------------------------
// Role: bare baseline server. Length-prefixed frames (4 bytes), a one-frame handshake, broadcast.
// ---------------------------------------------------------------------------------------------
function runBare() {
  const conns = new Set();
  let payload = Buffer.alloc(0);
  let cpuAtStart = null;
  const server = createServer((socket) => {
    const conn = { socket, pending: null };
    conns.add(conn);
    socket.on('data', (chunk) => {
      let buf = conn.pending ? Buffer.concat([conn.pending, chunk]) : chunk;
      while (buf.length >= 4) {
        const len = buf.readUInt32BE(0);
        if (buf.length < 4 + len) break;
        buf = buf.subarray(4 + len);
        // Any client frame is its hello: answer with a 24-byte "welcome".
        const welcome = Buffer.alloc(28);
        welcome.writeUInt32BE(24, 0);
        socket.write(welcome);
      }
      conn.pending = buf.length > 0 ? Buffer.from(buf) : null;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => conns.delete(conn));
  });
  server.listen(0, '127.0.0.1', () => process.send({ type: 'listening', port: server.address().port }));
  process.on('message', (msg) => {
    if (msg.cmd === 'rss') return reply({ ...settledMemory(msg.label), count: conns.size });
    if (msg.cmd === 'count') return reply({ count: conns.size });
    if (msg.cmd === 'setPayload') {
      payload = Buffer.alloc(4 + msg.bytes);
      payload.writeUInt32BE(msg.bytes, 0);
      return reply({});
    }
    if (msg.cmd === 'broadcast') {
      cpuAtStart = process.cpuUsage();
      const t0 = performance.now();
      for (const conn of conns) conn.socket.write(payload);
      return reply({ deliveries: conns.size, loopMs: performance.now() - t0 });
    }
    if (msg.cmd === 'cpu') return reply(cpuSince(cpuAtStart));
  });
}

// ---------------------------------------------------------------------------------------------
// Role: a Borealis transport instance (DeviceServer + InboxConsumer, in-process bus and presence).
// ---------------------------------------------------------------------------------------------
async function runBorealis() {
  require('reflect-metadata');
  const { NestFactory } = require('@nestjs/core');
  const { Module } = require('@nestjs/common');
  const { TransportModule, DeviceServer } = serverDist('transport');
  const { MessageBus, InProcessMessageBus } = serverDist('messaging');
  const { PresenceStore, MemoryPresenceStore } = serverDist('keyvalue');
  // Presence lives in Redis in a deployment, not in the transport's process: by default a stand-in
  // that keeps nothing (BENCH_PRESENCE=memory: the standalone mode's in-process store, ~110 bytes a device).
  class RemotePresenceStandIn extends PresenceStore {
    writes = 0;
    async set() {
      this.writes++;
    }
    async lookup() {
      return new Map();
    }
    async removeIfOwner() {
      this.writes++;
      return true;
    }
    // This instance's entry, renewed (an older build never calls it).
    async refresh() {
      this.writes++;
      return 'kept';
    }
  }
  const { Clock, SystemClock } = serverDist('util');
  const { transportInboxTopic } = serverDist('contracts');
  const instanceId = process.env.INSTANCE_ID;
  const bus = new InProcessMessageBus({ maxAttempts: 1 });
  const platform = {
    module: class BenchPlatform {},
    global: true,
    providers: [
      { provide: MessageBus, useValue: bus },
      { provide: PresenceStore, useValue: process.env.BENCH_PRESENCE === 'memory' ? new MemoryPresenceStore() : new RemotePresenceStandIn() },
      { provide: Clock, useValue: new SystemClock() },
    ],
    exports: [MessageBus, PresenceStore, Clock],
  };
  class BenchRoot {}
  Module({
    imports: [
      platform,
      TransportModule.register({
        instanceId,
        host: '127.0.0.1',
        port: 0,
        credentialSecret: 'bench-credential-secret-0123456789abcdef',
        heartbeatIntervalMs: HEARTBEAT_MS,
        registrationTimeoutMs: 10_000,
        acceptRatePerSecond: Number(process.env.ACCEPT_RATE),
        acceptBurst: Number(process.env.ACCEPT_RATE),
        // The client processes stand for many devices behind a few addresses (a carrier NAT): each
        // may take the whole accept rate, as before per-source shares, so that runs stay comparable.
        acceptPerSource: { perSecond: Number(process.env.ACCEPT_RATE), burst: Number(process.env.ACCEPT_RATE) },
        enrollPerSource: { perSecond: 1_000_000, burst: 1_000_000 },
        registerPerSource: { perSecond: 1_000_000, burst: 1_000_000 },
        goAwaySpreadMs: 2000,
        drainGraceMs: 30_000,
      }),
    ],
  })(BenchRoot);
  // Since the NestJS bus transport, the inbox consumer is a @BusEventPattern handler, which a
  // microservice with BusTransport subscribes (as the services do); an older build (--dist,
  // --compare) subscribes it in its module's init.
  const { BusTransport, resolverOf } = serverDist('messaging');
  let app;
  if (BusTransport) {
    let created = null;
    const resolve = (token) => resolverOf(created)(token);
    app = created = await NestFactory.createMicroservice(BenchRoot, { strategy: new BusTransport(bus, resolve), logger: ['error'] });
    await app.listen();
  } else {
    app = await NestFactory.createApplicationContext(BenchRoot, { logger: ['error'] });
    await app.init();
  }
  await bus.start();
  const server = app.get(DeviceServer);
  const inbox = transportInboxTopic(instanceId);
  let cpuAtStart = null;
  let seq = 0;
  process.send({ type: 'listening', port: server.address().port });
  process.on('message', async (msg) => {
    if (msg.cmd === 'rss') return reply({ ...settledMemory(msg.label), count: server.heldDevices() });
    if (msg.cmd === 'count') return reply({ count: server.heldDevices() });
    if (msg.cmd === 'stats') return reply({ stats: server.statsSnapshot() });
    if (msg.cmd === 'cpu') return reply(cpuSince(cpuAtStart));
    if (msg.cmd === 'markCpu') {
      cpuAtStart = process.cpuUsage();
      return reply({});
    }
    if (msg.cmd === 'broadcast') {
      // The delivery path alone: encode the Notification, write it (what the bare server does). A
      // broadcast is one message (one message id) to every device, each with its registrationId.
      const n = ++seq;
      const expiresAtMs = Date.now() + 3_600_000;
      const deliveries = msg.ids.map((id) => sampleNotification(id, n, expiresAtMs));
      cpuAtStart = process.cpuUsage();
      const t0 = performance.now();
      let written = 0;
      // A build before the write queue answers a boolean; this one 'written', 'queued' or 'not_held'.
      for (const d of deliveries) {
        const outcome = server.deliver(d);
        if (outcome === true || outcome === 'written' || outcome === 'queued') written++;
      }
      return reply({ deliveries: written, loopMs: performance.now() - t0 });
    }
    if (msg.cmd === 'rawBroadcast') {
      // Experiment: the same bytes written straight to the sockets, bypassing the session.
      const { encodeFramePrefixed } = serverDist('contracts');
      const frames = msg.ids.map((id) => { const d = sampleNotification(id, ++seq); return encodeFramePrefixed({ notification: { ...d, data: d.data } }); });
      const conns = [...server['connections']];
      cpuAtStart = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < conns.length; i++) conns[i]['socket'].write(frames[i]);
      return reply({ deliveries: conns.length, loopMs: performance.now() - t0 });
    }
    if (msg.cmd === 'broadcastInbox' || msg.cmd === 'targetedInbox') {
      // The whole inbox path: serialized records, validated, delivered, receipts published; in
      // batches of 500 (broadcast, as a Kafka batch arrives) or one record per batch (targeted).
      const n = ++seq;
      const broadcast = msg.cmd === 'broadcastInbox';
      const expiresAtMs = Date.now() + 3_600_000;
      const records = msg.ids.map((id) => ({ value: sampleNotification(id, broadcast ? n : ++seq, expiresAtMs) }));
      const batch = broadcast ? 500 : 1;
      cpuAtStart = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < records.length; i += batch) await bus.publish(inbox, records.slice(i, i + batch));
      return reply({ deliveries: records.length, loopMs: performance.now() - t0 });
    }
    if (msg.cmd === 'exit') process.exit(0);
    if (msg.cmd === 'drain') {
      const t0 = performance.now();
      await server.stop();
      return reply({ drainMs: performance.now() - t0 });
    }
  });
}

function reply(body) {
  process.send({ type: 'reply', ...body });
}

/** The process's CPU since `start` (a process.cpuUsage()), in ms: in all, user and system. */
function cpuSince(start) {
  const usage = process.cpuUsage(start);
  return { cpuMs: (usage.user + usage.system) / 1000, userMs: usage.user / 1000, systemMs: usage.system / 1000 };
}

/** Memory after a full GC; with BENCH_HEAP_SNAPSHOT=dir also a heap snapshot there (to diff before/after the devices connect). */
function settledMemory(label) {
  for (let i = 0; i < 3; i++) globalThis.gc();
  if (process.env.BENCH_HEAP_SNAPSHOT && label) require('node:v8').writeHeapSnapshot(path.join(process.env.BENCH_HEAP_SNAPSHOT, `${ROLE}-${process.env.INSTANCE_ID ?? 'bare'}-${label}.heapsnapshot`));
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
  const spaces = Object.fromEntries(require('node:v8').getHeapSpaceStatistics().map((x) => [x.space_name, x.physical_space_size]));
  return { rss, heapTotal, heapUsed, external, arrayBuffers, spaces };
}

// ---------------------------------------------------------------------------------------------
// Role: client process. COUNT devices from LOCAL_ADDRESS, raw protocol, counting what arrives.
// ---------------------------------------------------------------------------------------------
const ACK = process.env.BENCH_ACK === '1';

function runClient() {
  const kind = process.env.SERVER_KIND;
  const count = Number(process.env.COUNT);
  const rate = Number(process.env.RATE);
  const localAddress = process.env.LOCAL_ADDRESS;
  const state = { welcomed: 0, notifications: 0, goAways: 0, reconnected: 0, errors: 0, retries: 0, ids: [] };
  const devices = [];
  let stopping = false;
  const contracts = kind === 'borealis' ? dist('contracts') : null;
  let portB = 0;

  const open = (device, port) => {
    const socket = createConnection({ host: '127.0.0.1', port, localAddress });
    device.socket = socket;
    device.welcomed = false;
    socket.setNoDelay(true);
    if (kind === 'bare') {
      socket.on('connect', () => socket.write(Buffer.from([0, 0, 0, 5, 104, 101, 108, 108, 111])));
      let pending = null;
      socket.on('data', (chunk) => {
        let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
        while (buf.length >= 4) {
          const len = buf.readUInt32BE(0);
          if (buf.length < 4 + len) break;
          buf = buf.subarray(4 + len);
          if (!device.welcomed) {
            device.welcomed = true;
            state.welcomed++;
          } else state.notifications++;
        }
        pending = buf.length > 0 ? Buffer.from(buf) : null;
      });
    } else {
      const splitter = new contracts.FrameSplitter();
      socket.on('connect', () =>
        // Every version from 1 up: a server of an older build (--compare, --dist) negotiates its own.
        socket.write(contracts.encodeFramePrefixed({ hello: { protocolVersion: contracts.PROTOCOL_VERSION, minProtocolVersion: 1, credentials: device.credentials } })),
      );
      socket.on('data', (chunk) => {
        // --ack: the notifications of one chunk are acknowledged in one Ack, as a device does.
        const received = ACK ? [] : null;
        for (const body of splitter.push(chunk)) {
          const frame = contracts.decodeFrame(body);
          if (frame.welcome) {
            if (frame.welcome.credentials) {
              device.credentials = { deviceId: frame.welcome.credentials.deviceId, secret: frame.welcome.credentials.secret };
              state.ids.push(device.credentials.deviceId);
            }
            device.welcomed = true;
            if (device.moving) state.reconnected++;
            else state.welcomed++;
          } else if (frame.notification) {
            state.notifications++;
            received?.push(frame.notification.messageId);
          } else if (frame.notifications) {
            // Protocol version 3: a backlog written at once comes packed.
            state.notifications += frame.notifications.notifications.length;
            for (const n of frame.notifications.notifications) received?.push(n.messageId);
          } else if (frame.goAway) {
            // Drained: move to B (the stand-in for a load balancer). Busy (admission control): come back later.
            const drained = /shutting down/.test(frame.goAway.reason);
            if (drained) {
              state.goAways++;
              device.moving = true;
            }
            device.socket = null;
            socket.end();
            setTimeout(() => open(device, drained || device.moving ? portB : port), frame.goAway.reconnectDelayMs);
          }
        }
        if (received?.length && socket.writable) socket.write(contracts.encodeFramePrefixed({ ack: { messageIds: received } }));
      });
    }
    socket.on('error', () => state.errors++);
    // A connection closed before its welcome (a full accept backlog, a Hello that came too late on
    // an overloaded machine) tries again after a second, as the SDK's backoff would.
    socket.on('close', () => {
      if (device.socket === socket && !device.welcomed && !stopping) {
        state.retries++;
        setTimeout(() => open(device, port), 1000);
      }
    });
  };

  process.on('message', (msg) => {
    if (msg.cmd === 'connect') {
      portB = msg.portB ?? 0;
      let next = 0;
      const perTick = Math.max(1, Math.round(rate / 100));
      const timer = setInterval(() => {
        for (let i = 0; i < perTick && next < count; i++, next++) {
          const device = { socket: null, credentials: null, moving: false, welcomed: false };
          devices.push(device);
          open(device, msg.port);
        }
        if (next >= count) clearInterval(timer);
      }, 10);
    }
    if (msg.cmd === 'ids') {
      process.send({ type: 'ids', ids: state.ids });
      state.ids = [];
    }
    if (msg.cmd === 'exit') {
      stopping = true;
      for (const device of devices) device.socket?.destroy();
      process.exit(0);
    }
  });
  // Devices ping once per heartbeat interval, spread over it.
  if (kind === 'borealis') {
    let cursor = 0;
    setInterval(() => {
      const share = Math.ceil(devices.length / (HEARTBEAT_MS / 1000));
      for (let i = 0; i < share && devices.length > 0; i++, cursor = (cursor + 1) % devices.length) {
        const { socket, welcomed } = devices[cursor];
        if (welcomed && socket?.writable) socket.write(contracts.encodeFramePrefixed({ ping: { nonce: cursor } }));
      }
    }, 1000).unref();
  }
  setInterval(() => process.send({ type: 'progress', welcomed: state.welcomed, notifications: state.notifications, goAways: state.goAways, reconnected: state.reconnected, errors: state.errors, retries: state.retries }), 100);
}

// ---------------------------------------------------------------------------------------------
// Orchestrator.
// ---------------------------------------------------------------------------------------------
function startChild(env, execArgv = []) {
  const child = fork(new URL(import.meta.url).pathname, [], { env: { ...process.env, ...env }, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const replies = [];
  const waiters = [];
  child.progress = null;
  child.label = env.INSTANCE_ID ?? env.BENCH_ROLE;
  child.on('message', (msg) => {
    if (msg.type === 'progress') child.progress = msg;
    else if (msg.type === 'listening') child.port = msg.port;
    if (msg.type === 'reply' || msg.type === 'ids') {
      const waiter = waiters.shift();
      if (waiter) waiter(msg);
      else replies.push(msg);
    }
  });
  child.ask = (cmd) => {
    child.send(cmd);
    return new Promise((resolve) => (replies.length > 0 ? resolve(replies.shift()) : waiters.push(resolve)));
  };
  child.listening = () => until(() => child.port, 60_000, 'server listening');
  return child;
}

async function until(probe, timeoutMs, what) {
  const start = Date.now();
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const sum = (clients, key) => clients.reduce((n, c) => n + (c.progress?.[key] ?? 0), 0);

function startClients(kind, devices, processes, rate, firstAddress) {
  const clients = [];
  for (let i = 0; i < processes; i++) {
    const share = Math.floor(devices / processes) + (i < devices % processes ? 1 : 0);
    clients.push(startChild({ BENCH_ROLE: 'client', SERVER_KIND: kind, COUNT: String(share), RATE: String(Math.ceil(rate / processes)), LOCAL_ADDRESS: `127.0.0.${firstAddress + i}` }));
  }
  return clients;
}

async function broadcastRound(server, clients, command, ids, expectedTotal) {
  const result = await server.ask(ids ? { cmd: command, ids } : { cmd: command });
  await until(() => sum(clients, 'notifications') >= expectedTotal, 120_000, `${command} delivered`);
  const { cpuMs: cpu, userMs, systemMs } = await server.ask({ cmd: 'cpu' });
  if (process.env.BENCH_VERBOSE) process.stderr.write(`  ${command} (${server.label}): ${result.deliveries} deliveries, loop ${result.loopMs.toFixed(1)} ms, cpu ${cpu.toFixed(1)} ms (user ${userMs.toFixed(1)}, system ${systemMs.toFixed(1)})\n`);
  // µs of the process's user and system CPU per delivery: where a difference between builds lies.
  return { perCoreSecond: result.deliveries / (cpu / 1000), cpuMs: cpu, loopMs: result.loopMs, userUs: (1000 * userMs) / result.deliveries, systemUs: (1000 * systemMs) / result.deliveries };
}

/**
 * One run: the bare server and Borealis instance A hold the same number of idle devices at the
 * same time (each from its own client processes), so that their broadcast rounds alternate and
 * see the same background load; then Borealis' inbox paths, and a drain of A onto B.
 */
async function benchRun(devices, processes, rounds, acceptRate, payloadBytes, compareDir, swapped = false) {
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`, `--cpu-prof-interval=${process.env.BENCH_PROFILE_INTERVAL_US ?? 1000}`] : [];
  const bare = startChild({ BENCH_ROLE: 'bare' }, ['--expose-gc']);
  // swapped: A runs the --compare build and C this one. Instance A measured a build against itself
  // about 0.95 of C (its devices connect first; its clients also know B): the comparison's runs
  // take both places, and only the unswapped runs' A stands for this build in the other figures.
  const thisDist = process.env.BENCH_DIST ?? path.join(ROOT, 'dist');
  const a = startChild({ BENCH_ROLE: 'borealis', INSTANCE_ID: 'bench-a', ACCEPT_RATE: String(acceptRate), ...(swapped ? { BENCH_DIST: compareDir } : {}) }, ['--expose-gc', ...profile]);
  const b = startChild({ BENCH_ROLE: 'borealis', INSTANCE_ID: 'bench-b', ACCEPT_RATE: String(acceptRate) }, ['--expose-gc']);
  // --compare: instance C runs another build (BENCH_DIST for it alone) and holds as many devices, its
  // broadcast rounds alternating with the bare server's and A's: the build before, in the same run.
  const c = compareDir ? startChild({ BENCH_ROLE: 'borealis', INSTANCE_ID: 'bench-c', ACCEPT_RATE: String(acceptRate), BENCH_DIST: swapped ? thisDist : compareDir }, ['--expose-gc', ...profile]) : null;
  await Promise.all([bare.listening(), a.listening(), b.listening(), c?.listening()]);
  const idleBare = await bare.ask({ cmd: 'rss', label: 'idle' });
  const idleA = await a.ask({ cmd: 'rss', label: 'idle' });
  const idleC = c ? await c.ask({ cmd: 'rss', label: 'idle' }) : null;

  const bareClients = startClients('bare', devices, processes, acceptRate * 0.8, 2);
  for (const c of bareClients) c.send({ cmd: 'connect', port: bare.port });
  await until(() => sum(bareClients, 'welcomed') >= devices, 180_000, 'bare devices welcomed');
  // Filling at 80 % of the accept rate: the initial fill is not what is measured.
  const clients = startClients('borealis', devices, processes, acceptRate * 0.8, 2 + processes);
  for (const c of clients) c.send({ cmd: 'connect', port: a.port, portB: b.port });
  await until(async () => (await a.ask({ cmd: 'count' })).count >= devices, 180_000, 'borealis devices held');
  const compareClients = c ? startClients('borealis', devices, processes, acceptRate * 0.8, 2 + 2 * processes) : [];
  for (const client of compareClients) client.send({ cmd: 'connect', port: c.port });
  if (c) await until(async () => (await c.ask({ cmd: 'count' })).count >= devices, 180_000, 'devices held by the --compare build');
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const fullBare = await bare.ask({ cmd: 'rss', label: 'full' });
  const full = await a.ask({ cmd: 'rss', label: 'full' });
  const fullC = c ? await c.ask({ cmd: 'rss', label: 'full' }) : null;
  const ids = [];
  for (const client of clients) ids.push(...(await client.ask({ cmd: 'ids' })).ids);
  const idsC = [];
  for (const client of compareClients) idsC.push(...(await client.ask({ cmd: 'ids' })).ids);

  await bare.ask({ cmd: 'setPayload', bytes: payloadBytes });
  let expected = 0;
  let expectedBare = 0;
  let expectedC = 0;
  const direct = [];
  const bareRounds = [];
  const compareRounds = [];
  // Round 0 warms up the JIT on both sides and is not counted.
  for (let r = 0; r <= rounds; r++) {
    const bareRound = await broadcastRound(bare, bareClients, 'broadcast', null, (expectedBare += devices));
    // A and C take turns going first: the place favours one side (a build against itself measured
    // 1.02 going first and 0.99 second over 40 rounds; with acknowledging devices, two builds
    // measured 1.15 and 0.84 by place).
    const roundA = () => broadcastRound(a, clients, 'broadcast', ids, (expected += ids.length));
    const roundC = () => (c ? broadcastRound(c, compareClients, 'broadcast', idsC, (expectedC += idsC.length)) : null);
    const cFirst = c !== null && r % 2 === 1;
    const compareFirst = cFirst ? await roundC() : null;
    const round = await roundA();
    const compareRound = cFirst ? compareFirst : await roundC();
    if (r > 0) {
      bareRounds.push(bareRound);
      direct.push(round);
      if (compareRound) compareRounds.push(compareRound);
    }
    if (process.env.BENCH_RAW) await broadcastRound(a, clients, 'rawBroadcast', ids, (expected += ids.length));
  }
  for (const client of [...bareClients, ...compareClients]) client.send({ cmd: 'exit' });
  bare.kill();
  c?.send({ cmd: 'exit' }); // a normal exit: its CPU profile is written
  const inbox = [];
  for (let r = 0; r < rounds; r++) inbox.push(await broadcastRound(a, clients, 'broadcastInbox', ids, (expected += ids.length)));
  const targetedIds = Array.from({ length: Math.min(20_000, ids.length) }, () => ids[Math.floor(Math.random() * ids.length)]);
  const targeted = [];
  for (let r = 0; r < Math.max(1, Math.floor(rounds / 2)); r++) targeted.push(await broadcastRound(a, clients, 'targetedInbox', targetedIds, (expected += targetedIds.length)));

  // Drain A: every device gets GoAway with a spread delay and reconnects to B with its credentials.
  // B's CPU for taking the devices back: what the reconnect costs the server, which the starved clients' wall time does not show.
  await b.ask({ cmd: 'markCpu' });
  const t0 = performance.now();
  const drained = a.ask({ cmd: 'drain' });
  await until(async () => (await b.ask({ cmd: 'count' })).count >= devices, 120_000, 'devices moved to B').catch(async (err) => {
    const progress = clients.map((c) => c.progress);
    throw new Error(`${err.message}: clients ${JSON.stringify(progress)}, B ${JSON.stringify((await b.ask({ cmd: 'stats' })).stats)}`);
  });
  const reconnectMs = performance.now() - t0;
  const { cpuMs: reconnectCpuMs } = await b.ask({ cmd: 'cpu' });
  const { drainMs } = await drained;
  const statsB = (await b.ask({ cmd: 'stats' })).stats;
  for (const client of clients) client.send({ cmd: 'exit' });
  // A normal exit, so that a CPU profile (BENCH_PROFILE) is written.
  a.send({ cmd: 'exit' });
  b.kill();
  return {
    bare: { ...perConnection(idleBare, fullBare, devices), idleRss: idleBare.rss, broadcastPerCoreSecond: median(bareRounds.map((x) => x.perCoreSecond)) },
    borealis: {
      ...perConnection(idleA, full, devices),
      idleRss: idleA.rss,
      youngGenerationMax: Math.max(idleA.spaces.new_space, full.spaces.new_space),
      fullRss: full.rss,
      broadcastPerCoreSecond: median(direct.map((x) => x.perCoreSecond)),
      broadcastInboxPerCoreSecond: median(inbox.map((x) => x.perCoreSecond)),
      targetedInboxPerCoreSecond: median(targeted.map((x) => x.perCoreSecond)),
      reconnectMs,
      reconnectsPerCoreSecondAtB: devices / (reconnectCpuMs / 1000),
      drainMs,
      rejectedDuringReconnect: statsB.connectionsRejected,
      reconnectErrorsAtB: statsB.errors,
      clientRetries: sum(clients, 'retries'),
    },
    broadcastRatio: median(direct.map((x, i) => x.perCoreSecond / bareRounds[i].perCoreSecond)),
    ...(c
      ? {
          compare: { ...perConnection(idleC, fullC, devices), broadcastPerCoreSecond: median(compareRounds.map((x) => x.perCoreSecond)) },
          // Each build's user and system CPU per delivery (µs, medians of the run's rounds), whichever place it had.
          cpuSplit: {
            this: split(swapped ? compareRounds : direct),
            compare: split(swapped ? direct : compareRounds),
          },
          compareBroadcastRatio: median(compareRounds.map((x, i) => x.perCoreSecond / bareRounds[i].perCoreSecond)),
          swapped,
          // A's round over C's round beside it: this build's over the other's, or (swapped) the inverse.
          broadcastAOverC: median(direct.map((x, i) => x.perCoreSecond / compareRounds[i].perCoreSecond)),
        }
      : {}),
  };
}

/** Medians of rounds' user and system CPU per delivery, µs. */
function split(rounds) {
  return { userUs: median(rounds.map((x) => x.userUs)), systemUs: median(rounds.map((x) => x.systemUs)) };
}

/**
 * Memory per connection between two settled measurements: RSS as measured; RSS without the young
 * generation (V8's new space, whose committed size follows the recent allocation rate, not the
 * connections: it moved by up to 25 MB between two measurements of the same server here, 1.7 KB
 * "per connection" at 15,000, and shrinks again when the process idles); the JS heap in use.
 */
function perConnection(idle, full, devices) {
  const young = full.spaces.new_space - idle.spaces.new_space;
  return {
    rssPerConnection: (full.rss - idle.rss) / devices,
    rssWithoutYoungPerConnection: (full.rss - idle.rss - young) / devices,
    heapPerConnection: (full.heapUsed - idle.heapUsed) / devices,
  };
}

/** Bytes on the wire for one notification (with its share of a batched Ack) and for an hour of heartbeats. */
function wireBytes() {
  const { encodeFrame, encodeFramePrefixed } = dist('contracts');
  const n = sampleNotification('d'.repeat(22), 1);
  const notification = { messageId: n.messageId, applicationId: n.applicationId, registrationId: n.registrationId, title: n.title, message: n.message, data: n.data, sentAtMs: n.sentAtMs, expiresAtMs: n.expiresAtMs };
  // RFC 6455 framing: 2 header bytes up to 125 payload bytes, 4 up to 65535; client frames add a 4-byte mask.
  const ws = (text, fromClient) => {
    const len = Buffer.byteLength(text);
    return len + (len <= 125 ? 2 : 4) + (fromClient ? 4 : 0);
  };
  const ackBatch = 100;
  const ids = Array.from({ length: ackBatch }, (_, i) => sampleNotification('d', i).messageId);
  const binary = {
    notification: encodeFramePrefixed({ notification }).length,
    ackPerMessage: encodeFramePrefixed({ ack: { messageIds: ids } }).length / ackBatch,
    ping: encodeFramePrefixed({ ping: { nonce: 1000 } }).length,
    pong: encodeFramePrefixed({ pong: { nonce: 1000 } }).length,
  };
  const json = {
    notification: ws(JSON.stringify({ type: 'notification', ...notification }), false),
    ackPerMessage: ws(JSON.stringify({ type: 'ack', messageIds: ids }), true) / ackBatch,
    ping: ws(JSON.stringify({ type: 'ping', nonce: 1000 }), true),
    pong: ws(JSON.stringify({ type: 'pong', nonce: 1000 }), false),
  };
  const perHour = 3600_000 / 30_000;
  // Each exchange is 3 TCP segments (ping, pong, delayed ACK) of 52 header bytes (IPv4, TCP, timestamps) either way.
  const tcpPerExchange = 3 * 52;
  const summarize = (x) => ({
    ...x,
    perNotification: x.notification + x.ackPerMessage,
    heartbeatHourPayload: perHour * (x.ping + x.pong),
    heartbeatHourWithTcp: perHour * (x.ping + x.pong + tcpPerExchange),
  });
  return { binary: summarize(binary), jsonWebSocket: summarize(json), heartbeatsPerHour: perHour, notificationBodyBytes: encodeFrame({ notification }).length };
}

async function orchestrate() {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      devices: { type: 'string', default: '15000' },
      clients: { type: 'string', default: '3' },
      rounds: { type: 'string', default: '5' },
      runs: { type: 'string', default: '3' },
      'accept-rate': { type: 'string', default: '5000' },
      dist: { type: 'string' },
      compare: { type: 'string' },
      ack: { type: 'boolean', default: false },
    },
  });
  const devices = Number(values.devices);
  const processes = Number(values.clients);
  const rounds = Number(values.rounds);
  const runs = Number(values.runs);
  const acceptRate = Number(values['accept-rate']);
  if (values.dist) process.env.BENCH_DIST = path.resolve(values.dist);
  // The clients are forked with this environment.
  if (values.ack) process.env.BENCH_ACK = '1';
  const log = (line) => process.stderr.write(`[transport-bench] ${line}\n`);
  const bytes = wireBytes();
  log(`${devices} devices from ${processes} client processes, ${rounds} broadcast rounds, ${runs} runs, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const compareDir = values.compare ? path.resolve(values.compare) : undefined;
  const all = [];
  for (let run = 1; run <= runs; run++) {
    // With --compare, every second run swaps the builds' places (A and C).
    const swapped = compareDir !== undefined && run % 2 === 0;
    // The bare server sends a body of the same size, so both write the same bytes per delivery (give or take the prefix).
    const result = await benchRun(devices, processes, rounds, acceptRate, bytes.notificationBodyBytes, compareDir, swapped);
    log(`run ${run}${swapped ? ' (places swapped: A runs the --compare build)' : ''}: ${JSON.stringify(result)}`);
    all.push(result);
  }
  // This build's own figures come from the runs where it was A.
  const results = all.filter((r) => !r.swapped);
  const m = (pick) => median(results.map(pick));
  // This build over the other, each place weighted alike: the geometric mean of the two places'
  // geometric means of A over C, the swapped place's inverted. Place bias: A over C whatever A runs.
  const geomean = (xs) => Math.exp(xs.reduce((n, x) => n + Math.log(x), 0) / xs.length);
  const ownPlace = results.map((r) => r.broadcastAOverC);
  const swappedPlace = all.filter((r) => r.swapped).map((r) => r.broadcastAOverC);
  const versus = swappedPlace.length === 0 ? geomean(ownPlace) : Math.sqrt(geomean(ownPlace) / geomean(swappedPlace));
  const placeBias = swappedPlace.length === 0 ? null : Math.sqrt(geomean(ownPlace) * geomean(swappedPlace));
  const kb = (x) => Number((x / 1024).toFixed(2));
  const summary = {
    devices,
    runs,
    loadAverageAfter: os.loadavg(),
    bare: {
      rssPerConnectionKB: kb(m((r) => r.bare.rssPerConnection)),
      rssWithoutYoungPerConnectionKB: kb(m((r) => r.bare.rssWithoutYoungPerConnection)),
      heapPerConnectionKB: kb(m((r) => r.bare.heapPerConnection)),
      broadcastPerCoreSecond: Math.round(m((r) => r.bare.broadcastPerCoreSecond)),
    },
    borealis: {
      rssPerConnectionKB: kb(m((r) => r.borealis.rssPerConnection)),
      rssWithoutYoungPerConnectionKB: kb(m((r) => r.borealis.rssWithoutYoungPerConnection)),
      heapPerConnectionKB: kb(m((r) => r.borealis.heapPerConnection)),
      youngGenerationMaxMB: Math.round(m((r) => r.borealis.youngGenerationMax) / 1048576),
      idleRssMB: Math.round(m((r) => r.borealis.idleRss) / 1048576),
      broadcastPerCoreSecond: Math.round(m((r) => r.borealis.broadcastPerCoreSecond)),
      broadcastInboxPerCoreSecond: Math.round(m((r) => r.borealis.broadcastInboxPerCoreSecond)),
      targetedInboxPerCoreSecond: Math.round(m((r) => r.borealis.targetedInboxPerCoreSecond)),
      reconnectAfterDrainMs: Math.round(m((r) => r.borealis.reconnectMs)),
      // With clients that act at once: the spread, or the time B's one core needs, whichever is longer.
      reconnectsPerCoreSecondAtB: Math.round(m((r) => r.borealis.reconnectsPerCoreSecondAtB)),
      rejectedDuringReconnect: m((r) => r.borealis.rejectedDuringReconnect),
    },
    ratios: {
      rssVsBare: Number((m((r) => r.borealis.rssPerConnection / r.bare.rssPerConnection)).toFixed(2)),
      rssWithoutYoungVsBare: Number((m((r) => r.borealis.rssWithoutYoungPerConnection / r.bare.rssWithoutYoungPerConnection)).toFixed(2)),
      heapVsBare: Number((m((r) => r.borealis.heapPerConnection / r.bare.heapPerConnection)).toFixed(2)),
      // Median over runs of the median ratio of alternating rounds.
      broadcastVsBare: Number(m((r) => r.broadcastRatio).toFixed(2)),
      ...(values.compare
        ? {
            compareBuild: values.compare,
            compareBroadcastVsBare: Number(m((r) => r.compareBroadcastRatio).toFixed(2)),
            // Runs in both places (two or more runs) cancel the place's bias; with one run it is in.
            broadcastVsCompare: Number(versus.toFixed(3)),
            broadcastVsCompareByRun: all.map((r) => Number((r.swapped ? 1 / r.broadcastAOverC : r.broadcastAOverC).toFixed(3))),
            placeBias: placeBias === null ? null : Number(placeBias.toFixed(3)),
            rssVsCompare: Number(m((r) => r.borealis.rssPerConnection / r.compare.rssPerConnection).toFixed(2)),
            // Broadcast CPU per delivery of each build, user and system apart (medians over all runs, both places).
            cpuPerDeliveryUs: Object.fromEntries(
              ['this', 'compare'].map((build) => [
                build,
                {
                  user: Number(median(all.map((r) => r.cpuSplit[build].userUs)).toFixed(2)),
                  system: Number(median(all.map((r) => r.cpuSplit[build].systemUs)).toFixed(2)),
                },
              ]),
            ),
          }
        : {}),
    },
    bytes,
  };
  // At rest, plus the per-connection cost without the young generation, plus the young generation at
  // its largest (V8's default limit: two 16 MB semi-spaces; what it reached here is youngGenerationMaxMB).
  summary.extrapolation500k = {
    processRssGB: Number(((summary.borealis.idleRssMB * 1048576 + 500_000 * m((r) => r.borealis.rssWithoutYoungPerConnection) + 32 * 1048576) / 1024 ** 3).toFixed(2)),
    kernelGB: Number(((500_000 * 4.8 * 1024) / 1024 ** 3).toFixed(2)),
  };
  process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
}

// A child whose orchestrator is gone has nothing left to do.
if (ROLE !== 'orchestrator') process.on('disconnect', () => process.exit(0));
if (ROLE === 'bare') runBare();
else if (ROLE === 'borealis') await runBorealis();
else if (ROLE === 'client') runClient();
else await orchestrate();
