// Priority benchmark: how long a `high` push takes to reach a device that reads slowly behind a
// backlog of `normal` pushes, with the transport's per-connection write queue and without it (its
// high-water mark at the unsent limit: every push goes to the socket in arrival order), measured in
// the same run; and what coalescing normal pushes into Notifications frames saves (frames, bytes,
// reads on the device) and costs (added latency), for coalescing windows side by side.
//
//   npm run build && npm run bench -- priority [--rounds 5] [--backlog 8000] [--read-kbps 4000] [--devices 100] [--bursts 20] [--windows 0,5,50] [--json]
//
// Only what the transport has not yet handed to the kernel can be reordered: on Linux the kernel's
// send buffer of a socket grows to net.ipv4.tcp_wmem's maximum (4 MiB by default), so the backlog
// (8,000 pushes of ~1.2 KB, about 10 MB) is made larger than that.
//
// Everything in one process: real DeviceServers (in-process bus, in-memory presence) and raw
// protocol devices over loopback TCP. A slow device reads its socket at a fixed rate (`--read-kbps`)
// in 10 ms steps, from its first byte on, so the backlog sits in the kernel's buffers (kept small by
// the slow reading), the server's socket buffer and, with the queue, the connection's write queue,
// as for a device on a slow radio link.
import { createRequire } from 'node:module';
import { createConnection } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const require = createRequire(import.meta.url);
const dist = (lib) => require(path.join(ROOT, 'dist', 'libs', lib, 'src', 'index.js'));
const contracts = dist('contracts');

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    backlog: { type: 'string', default: '8000' },
    'read-kbps': { type: 'string', default: '4000' },
    devices: { type: 'string', default: '100' },
    bursts: { type: 'string', default: '20' },
    windows: { type: 'string', default: '0,5,50' },
    json: { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(args.rounds);
const BACKLOG = Number(args.backlog);
const READ_BYTES_PER_S = Number(args['read-kbps']) * 1000;
const DEVICES = Number(args.devices);
const BURSTS = Number(args.bursts);
const WINDOWS = args.windows.split(',').map(Number);
/** Pushes per burst and the gap between them: a chat app's few messages in quick succession. */
const BURST_PUSHES = 5;
const BURST_GAP_MS = 2;
const BURST_PAUSE_MS = 100;
const READ_STEP_MS = 10;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

async function until(probe, timeoutMs, what) {
  const start = Date.now();
  while (!probe()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A real transport instance in this process. */
async function startTransport(instanceId, options) {
  require('reflect-metadata');
  const { NestFactory } = require('@nestjs/core');
  const { Module } = require('@nestjs/common');
  const { TransportModule, DeviceServer } = dist('transport');
  const { MessageBus, InProcessMessageBus } = dist('messaging');
  const { PresenceStore, MemoryPresenceStore } = dist('keyvalue');
  const { Clock, SystemClock } = dist('util');
  const bus = new InProcessMessageBus({ maxAttempts: 1 });
  for (const topic of [contracts.Topics.deliveryReceipts, contracts.Topics.deviceEvents]) await bus.subscribe({ topic, group: 'bench', handler: async () => undefined });
  const platform = {
    module: class BenchPlatform {},
    global: true,
    providers: [
      { provide: MessageBus, useValue: bus },
      { provide: PresenceStore, useValue: new MemoryPresenceStore() },
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
        heartbeatIntervalMs: 60_000,
        registrationTimeoutMs: 10_000,
        acceptPerSource: { perSecond: 100_000, burst: 100_000 },
        enrollPerSource: { perSecond: 100_000, burst: 100_000 },
        sentReceiptHoldMs: 0,
        ...options,
      }),
    ],
  })(BenchRoot);
  const app = await NestFactory.createApplicationContext(BenchRoot, { logger: ['error'] });
  await app.init();
  await bus.start();
  const server = app.get(DeviceServer);
  return { server, port: server.address().port, close: () => app.close() };
}

/** A raw protocol version 3 device that reads at `rate` bytes a second (Infinity: as fast as it can). */
function openDevice(port, { onNotification }) {
  const socket = createConnection({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  const splitter = new contracts.FrameSplitter();
  const device = { socket, deviceId: null, rate: Infinity, frames: 0, bytes: 0, reads: 0, received: 0 };
  const take = (chunk) => {
    device.bytes += chunk.length;
    device.reads++;
    for (const body of splitter.push(chunk)) {
      device.frames++;
      const frame = contracts.decodeFrame(body);
      if (frame.welcome) device.deviceId = frame.welcome.deviceId;
      const list = frame.notification ? [frame.notification] : frame.notifications ? frame.notifications.notifications : [];
      for (const n of list) {
        device.received++;
        onNotification(n.messageId, device);
      }
    }
  };
  socket.on('connect', () => socket.write(contracts.encodeFramePrefixed({ hello: { protocolVersion: contracts.PROTOCOL_VERSION } })));
  socket.on('error', () => undefined);
  // Paced: no 'data' listener, the device takes what its rate allows every step.
  socket.on('readable', () => {
    if (device.rate === Infinity) for (let chunk; (chunk = socket.read()) !== null; ) take(chunk);
  });
  device.timer = setInterval(() => {
    if (device.rate === Infinity) {
      for (let chunk; (chunk = socket.read()) !== null; ) take(chunk);
      return;
    }
    let budget = Math.floor((device.rate * READ_STEP_MS) / 1000);
    while (budget > 0 && socket.readableLength > 0) {
      const chunk = socket.read(Math.min(budget, socket.readableLength));
      if (chunk === null) break;
      budget -= chunk.length;
      take(chunk);
    }
  }, READ_STEP_MS);
  device.close = () => {
    clearInterval(device.timer);
    socket.destroy();
  };
  return device;
}

function push(deviceId, messageId, priority, message) {
  const now = Date.now();
  return {
    kind: 'deliver',
    messageId,
    deviceId,
    applicationId: 'ru.example.newsreader',
    registrationId: `r1_${deviceId}`.padEnd(48, 'x'),
    title: 'Breaking news',
    message,
    data: '{"articleId":"a-18734","section":"world"}',
    sentAtMs: now,
    expiresAtMs: now + 3_600_000,
    priority,
  };
}

/** A transport and one slow device on it, for the priority rounds. */
async function prioritySetup(label, options) {
  const transport = await startTransport(`bench-${label.replace(/\W+/g, '-')}`, { maxUnsentBytes: 64 * 1024 * 1024, ...options });
  const setup = { label, transport, urgentAt: 0, seenInRound: 0, latencies: [], ahead: [], roundTimes: [], sent: 0 };
  setup.device = openDevice(transport.port, {
    onNotification: (messageId) => {
      if (messageId.startsWith('urgent')) {
        setup.latencies.push(performance.now() - setup.urgentAt);
        setup.ahead.push(setup.seenInRound);
      }
      setup.seenInRound++;
    },
  });
  await until(() => setup.device.deviceId, 10_000, 'welcome');
  // Slow from the start and throughout: a device that once read fast would have had the kernel grow
  // its receive buffer (to megabytes on loopback), and the backlog would wait there, where nothing
  // can reorder it.
  setup.device.rate = READ_BYTES_PER_S;
  return setup;
}

/** One round: a backlog of normal pushes, faster than the device reads, then a high one. */
async function priorityRound(setup, round) {
  const { transport, device } = setup;
  const body = 'm'.repeat(1000);
  await until(() => device.received === setup.sent, 60_000, 'the previous round read');
  setup.seenInRound = 0;
  for (let i = 0; i < BACKLOG; i += 100) {
    for (let j = i; j < Math.min(BACKLOG, i + 100); j++) transport.server.deliver(push(device.deviceId, `n-${round}-${j}`, 'normal', body));
    await new Promise((resolve) => setImmediate(resolve));
  }
  setup.sent += BACKLOG;
  await sleep(50);
  setup.urgentAt = performance.now();
  transport.server.deliver(push(device.deviceId, `urgent-${round}`, 'high', 'urgent'));
  setup.sent += 1;
  await until(() => device.received === setup.sent, 120_000, 'the round read');
  setup.roundTimes.push(performance.now() - setup.urgentAt);
}

async function priorityResult(setup) {
  const stats = setup.transport.server.statsSnapshot();
  setup.device.close();
  await setup.transport.close();
  return {
    label: setup.label,
    latencyMs: median(setup.latencies),
    latenciesMs: setup.latencies.map((x) => Math.round(x)),
    aheadOfHigh: median(setup.ahead),
    backlog: BACKLOG,
    drainMs: median(setup.roundTimes),
    queued: stats.deliveriesQueued,
    slowReaderDrops: stats.slowReaderDrops,
  };
}

/** Bursts of normal pushes to devices that read at once, with coalescing window `windowMs`. */
async function coalescing(windowMs) {
  const transport = await startTransport(`bench-coalesce-${windowMs}`, { coalesceMs: windowMs });
  const sentAt = new Map();
  const delays = [];
  const devices = Array.from({ length: DEVICES }, () =>
    openDevice(transport.port, {
      onNotification: (messageId) => {
        delays.push(performance.now() - sentAt.get(messageId));
      },
    }),
  );
  await until(() => devices.every((d) => d.deviceId), 20_000, 'welcomes');
  const before = devices.map((d) => ({ frames: d.frames, bytes: d.bytes, reads: d.reads }));
  const body = 'A short message body of the length most pushes have, about a hundred characters of text here.';
  let total = 0;
  for (let burst = 0; burst < BURSTS; burst++) {
    for (let k = 0; k < BURST_PUSHES; k++) {
      const at = performance.now();
      for (const device of devices) {
        const id = `b-${burst}-${k}-${device.deviceId}`;
        sentAt.set(id, at);
        transport.server.deliver(push(device.deviceId, id, 'normal', body));
        total++;
      }
      await sleep(BURST_GAP_MS);
    }
    await sleep(BURST_PAUSE_MS);
  }
  await until(() => devices.reduce((n, d) => n + d.received, 0) === total, 60_000, 'every push read');
  const frames = devices.reduce((n, d, i) => n + d.frames - before[i].frames, 0);
  const bytes = devices.reduce((n, d, i) => n + d.bytes - before[i].bytes, 0);
  const reads = devices.reduce((n, d, i) => n + d.reads - before[i].reads, 0);
  for (const device of devices) device.close();
  await transport.close();
  return { windowMs, pushes: total, frames, framesPerPush: frames / total, bytesPerPush: bytes / total, readsPerPush: reads / total, delayMedianMs: median(delays), delayP99Ms: quantile(delays, 0.99) };
}

const startedAt = new Date();
// The two transports' rounds alternate, so that both see the same background load.
const queueSetup = await prioritySetup('write queue (default)', {});
const noQueueSetup = await prioritySetup('no queue (high-water mark = unsent limit)', { writeHighWaterBytes: 64 * 1024 * 1024 });
for (let round = 0; round < ROUNDS; round++) {
  await priorityRound(queueSetup, round);
  await priorityRound(noQueueSetup, round);
}
const withQueue = await priorityResult(queueSetup);
const withoutQueue = await priorityResult(noQueueSetup);
const coalesced = [];
for (const windowMs of WINDOWS) coalesced.push(await coalescing(windowMs));
const result = {
  startedAt: startedAt.toISOString(),
  load: os.loadavg().map((x) => x.toFixed(2)).join(' '),
  node: process.version,
  settings: { rounds: ROUNDS, backlog: BACKLOG, readBytesPerSecond: READ_BYTES_PER_S, devices: DEVICES, bursts: BURSTS, burstPushes: BURST_PUSHES, burstGapMs: BURST_GAP_MS },
  priority: [withQueue, withoutQueue],
  coalescing: coalesced,
};
if (args.json) {
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} else {
  process.stdout.write(`priority: ${ROUNDS} rounds, a backlog of ${BACKLOG} normal pushes (~1.2 KB each) to a device reading ${READ_BYTES_PER_S / 1000} kB/s, then one high push\n`);
  for (const r of result.priority) {
    process.stdout.write(
      `  ${r.label}: high push latency median ${r.latencyMs.toFixed(0)} ms (${r.latenciesMs.join(', ')}), ${r.aheadOfHigh} of ${r.backlog} normal pushes read before it, whole backlog read in ${r.drainMs.toFixed(0)} ms (median); ${r.queued} pushes waited in the write queue\n`,
    );
  }
  process.stdout.write(`  ratio (no queue ÷ queue): ${(withoutQueue.latencyMs / withQueue.latencyMs).toFixed(1)}\n`);
  process.stdout.write(`coalescing: ${DEVICES} devices, ${BURSTS} bursts of ${BURST_PUSHES} normal pushes ${BURST_GAP_MS} ms apart each\n`);
  for (const c of coalesced) {
    process.stdout.write(
      `  window ${String(c.windowMs).padStart(3)} ms: ${c.framesPerPush.toFixed(2)} frames/push, ${c.bytesPerPush.toFixed(1)} bytes/push, ${c.readsPerPush.toFixed(2)} device reads/push, delay median ${c.delayMedianMs.toFixed(1)} ms, p99 ${c.delayP99Ms.toFixed(1)} ms\n`,
    );
  }
  process.stdout.write(`load ${result.load}, ${result.startedAt}\n`);
}
process.exit(0);
