// Delivery-path benchmark: the JavaScript a transport instance runs per delivery of a broadcast
// (DeviceServer's lookup, the connection, the session and its Ack memory, the Notification frame),
// with each socket replaced by a stand-in whose write only counts bytes. The transport benchmark
// measures the whole cost, about nine tenths of it the kernel's write, where scheduling moves a
// build's figure by a few per cent from run to run; this one measures what the code controls.
//
//   npm run build && npm run bench -- deliver [--devices 5000] [--rounds 400] [--pairs 6] [--dist dir] [--compare dir]
//
// --compare DIR: another build's dist/ (e.g. an older commit's), measured in the same run: the two
// builds run in separate processes, one after the other, their order swapped every pair. Devices
// never acknowledge, so after the first round every delivery is remembered as unacknowledged (the
// transport benchmark's default and worst case). A round is one message to every device; each
// process reports the median over its rounds after the first quarter (warm-up).
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sampleNotification } from './lib/sample-notification.mjs';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

if (process.env.BENCH_ROLE === 'worker') runWorker();
else await orchestrate();

async function orchestrate() {
  const { values } = parseArgs({
    options: {
      devices: { type: 'string', default: '5000' },
      rounds: { type: 'string', default: '400' },
      pairs: { type: 'string', default: '6' },
      dist: { type: 'string' },
      compare: { type: 'string' },
    },
  });
  for (const name of ['devices', 'rounds', 'pairs']) {
    if (!/^[1-9][0-9]*$/.test(values[name])) throw new Error(`--${name} must be a positive integer, not ${JSON.stringify(values[name])}`);
  }
  const dist = path.resolve(ROOT, values.dist ?? 'dist');
  const compare = values.compare ? path.resolve(ROOT, values.compare) : null;
  if (compare === dist) throw new Error('--compare names the build measured itself: give another build\'s dist/');
  const pairs = Number(values.pairs);
  const own = [];
  const other = [];
  for (let p = 0; p < pairs; p++) {
    // The order alternates: whichever runs second gets a machine warmed by the first.
    const order = compare === null ? [dist] : p % 2 === 0 ? [dist, compare] : [compare, dist];
    for (const build of order) {
      const result = await runIn(build, values.devices, values.rounds);
      (build === dist ? own : other).push(result.nsPerDelivery);
      process.stderr.write(`[deliver-bench] pair ${p + 1}: ${build === dist ? 'this' : 'compare'} ${result.nsPerDelivery.toFixed(1)} ns per delivery\n`);
    }
  }
  const out = { devices: Number(values.devices), rounds: Number(values.rounds), pairs, nsPerDelivery: round1(median(own)), byPair: own.map(round1) };
  if (compare !== null) {
    const ratios = own.map((ns, i) => other[i] / ns);
    Object.assign(out, {
      compareBuild: values.compare,
      compareNsPerDelivery: round1(median(other)),
      compareByPair: other.map(round1),
      // Above 1: this build's delivery path is faster (deliveries per second of this ÷ compare's).
      rateVsCompare: Number(median(ratios).toFixed(3)),
      rateVsCompareByPair: ratios.map((r) => Number(r.toFixed(3))),
    });
  }
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

function runIn(dist, devices, rounds) {
  return new Promise((resolve, reject) => {
    const child = fork(import.meta.filename, [], { env: { ...process.env, BENCH_ROLE: 'worker', BENCH_DIST: dist, DEVICES: devices, ROUNDS: rounds } });
    let result = null;
    child.once('message', (message) => (result = message));
    child.once('error', reject);
    // 'close', not 'exit': the channel has delivered the worker's result by then.
    child.once('close', (code) => (code === 0 && result !== null ? resolve(result) : reject(new Error(`worker for ${dist} exited with ${code} without a result`))));
  });
}

/** One build: DEVICES sessions and connections with stand-in sockets, ROUNDS broadcasts. */
function runWorker() {
  const require = createRequire(import.meta.url);
  const lib = (file) => require(path.join(process.env.BENCH_DIST, 'libs', 'transport', 'src', file));
  const { DeviceSession } = lib('device-session.js');
  const { StreamConnection } = lib('device-connection.js');
  const { TransportStats } = lib('transport-stats.js');
  const { resolveTransportSettings } = lib('transport-options.js');
  // Builds before the Ack memory for group pushes have no GroupDeliveries.
  let groups;
  try {
    groups = new (lib('group-deliveries.js').GroupDeliveries)();
  } catch {
    groups = undefined;
  }
  const devices = Number(process.env.DEVICES);
  const rounds = Number(process.env.ROUNDS);
  const settings = resolveTransportSettings({
    instanceId: 'bench',
    host: '127.0.0.1',
    port: 0,
    credentialSecret: 'bench-credential-secret-0123456789abcdef',
    heartbeatIntervalMs: 60_000,
    registrationTimeoutMs: 10_000,
  });
  let issued = 0;
  // Device ids of the real length (22 characters, as CredentialAuthority issues them).
  const credentials = { issue: (nowMs, deviceId) => ({ deviceId: deviceId ?? `device-${String(++issued).padStart(15, '0')}`, secret: 'x' }), verify: () => 'valid' };
  const context = { settings, epochMs: Date.now(), credentials, groups, newCorrelationId: () => 'c' };
  const host = {
    perform() {},
    closed() {},
    wake() {},
    now: () => Date.now(),
    stats: new TransportStats(),
    logger: { log() {}, warn() {} },
    maxUnsentBytes: settings.maxUnsentBytes ?? 1 << 20,
    closeGraceMs: 1000,
    writeHighWaterBytes: settings.writeHighWaterBytes,
    coalesceMs: settings.coalesceMs ?? 0,
    schedulePump() {},
    written() {},
  };
  // What DeviceConnection uses of a net.Socket: a write that completes at once.
  class StandInSocket {
    writableLength = 0;
    writable = true;
    bytes = 0;
    on() {
      return this;
    }
    write(chunk) {
      this.bytes += chunk.length;
      return true;
    }
    end() {}
    destroy() {}
  }
  // DeviceServer.deliver's own part: the lookup by device id.
  const byDevice = new Map();
  for (let i = 0; i < devices; i++) {
    const session = new DeviceSession(context, Date.now(), '127.0.0.1');
    const connection = new StreamConnection(new StandInSocket(), session, host);
    session.onFrame({ kind: 'hello', hello: { protocolVersion: 3, minProtocolVersion: 1 } }, Date.now());
    byDevice.set(session.deviceId, connection);
  }
  const idsJson = JSON.stringify([...byDevice.keys()]);
  const times = [];
  let written = 0;
  for (let r = 0; r < rounds; r++) {
    const expiresAtMs = Date.now() + 3_600_000;
    // As in the transport benchmark, the strings of each delivery are new, as decoded from a record.
    const deliveries = JSON.parse(idsJson).map((deviceId) => sampleNotification(deviceId, r, expiresAtMs));
    const t0 = process.hrtime.bigint();
    for (const delivery of deliveries) {
      // A build before the write queue answers a boolean; later ones 'written', 'queued' or 'not_held'.
      const outcome = byDevice.get(delivery.deviceId)?.deliver(delivery);
      if (outcome === true || outcome === 'written') written++;
    }
    times.push(Number(process.hrtime.bigint() - t0) / devices);
  }
  if (written !== devices * rounds) throw new Error(`${written} of ${devices * rounds} deliveries written`);
  process.send({ nsPerDelivery: median(times.slice(Math.floor(rounds / 4))) }, () => process.exit(0));
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function round1(x) {
  return Math.round(x * 10) / 10;
}
