// Protocol fuzzer (issue 15, "also build"): seeded random mutation of valid device-protocol frames,
// sent over TCP (byte stream, length-prefixed, written in random pieces) and WebSocket (one message
// per frame) to a real DeviceServer in this process, with a stand-in push-core that answers every
// registration request. Each case is one connection; a failure names the seed and the case, and
// `BOREALIS_FUZZ_SEED=<seed> BOREALIS_FUZZ_CASE=<n>` runs that case alone.
//
// What must hold, for every case:
// - nothing crashes: no handler fault is caught at a connection (stats.internalFailures stays 0),
//   and the process survives (an uncaught exception fails the run);
// - nothing hangs: a well-behaved device on the same server keeps getting Pongs within a bound;
// - no frame goes unanswered: after the fuzzed bytes the case sends a Ping with its own nonce. The
//   server must answer it with its Pong, or send an Error about the connection itself (request id
//   0) and close. When the bytes ended inside a frame, the Ping is part of that frame's body; the
//   case then closes its side and the server must close too. Once the Pong has come,
//   every request the server saw (by the case's own decoding of what it sent) must have its answer:
//   RegisterResult, RequestResult, CredentialsRotated or an Error naming its request id.
//
// Budget: BOREALIS_FUZZ_SECONDS (default 3) of cases in the normal test run; set it higher to fuzz
// longer, e.g. `BOREALIS_FUZZ_SECONDS=600 npx jest libs/transport/src/protocol-fuzz.int.ts`.
import { randomInt } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { DynamicModule } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { WebSocket } from 'ws';
import {
  DeviceErrorCode,
  FrameError,
  FrameSplitter,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  Topics,
  decodeFrame,
  encodeFrame,
  lengthPrefixed,
  transportInboxTopic,
  type Frame,
  type FrameInit,
  type RegistrationReplyV1,
  type RegistrationRequestedV1,
} from '@borealis/contracts';
import { MemoryPresenceStore, PresenceStore } from '@borealis/keyvalue';
import { BusTransport, InProcessMessageBus, MessageBus, resolverOf } from '@borealis/messaging';
import { Clock, SystemClock } from '@borealis/util';
import { DeviceServer, TransportModule, WEBSOCKET_PATH } from './index';

const INSTANCE = 'transport-fuzz';
const SECONDS = Number(process.env['BOREALIS_FUZZ_SECONDS'] ?? 3);
const SEED = Number(process.env['BOREALIS_FUZZ_SEED'] ?? randomInt(2 ** 31));
const ONLY_CASE = process.env['BOREALIS_FUZZ_CASE'] === undefined ? null : Number(process.env['BOREALIS_FUZZ_CASE']);
/** Cases run side by side. */
const PARALLEL = 8;
/** How long a case waits for the server's answer: far beyond a loopback round trip, far below the idle timeout. */
const ANSWER_MS = 3000;
/**
 * The well-behaved device's Pong while the fuzzer runs: within 1,000 ms plus ten times its idle
 * round trip measured in the same run, as in hostile-devices.int.ts (the machines are shared).
 */
const probeBound = (idleMs: number) => 1000 + 10 * idleMs;
const REGISTRATION_TIMEOUT_MS = 2000;

if (!Number.isFinite(SECONDS) || SECONDS <= 0) throw new Error(`BOREALIS_FUZZ_SECONDS must be a positive number, not ${process.env['BOREALIS_FUZZ_SECONDS']}`);
if (!Number.isInteger(SEED)) throw new Error(`BOREALIS_FUZZ_SEED must be an integer, not ${process.env['BOREALIS_FUZZ_SEED']}`);
jest.setTimeout(SECONDS * 1000 + 60_000);

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(below: number): number {
    return Math.floor(this.next() * below);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    return Buffer.from(Array.from({ length: n }, () => this.int(256)));
  }
}

/** Case n's generator: independent of the other cases, so one case replays alone. */
function rngOf(seed: number, n: number): Rng {
  return new Rng((Math.imul(seed, 0x9e3779b1) ^ Math.imul(n + 1, 0x85ebca6b)) >>> 0);
}

const INTERESTING_NUMBERS = [0, 1, 2, 3, 127, 128, 255, 256, 0x7fffffff, 0x80000000, 0xffffffff];
const STRINGS = ['', 'app-1', 'app_x', 'reg-1', 'x'.repeat(129), 'x'.repeat(4096), '\u0000', 'é☃𝄞', '../../etc', 'topic/a', 'constructor', '__proto__'];

function text(rng: Rng): string {
  return rng.chance(0.7) ? rng.pick(STRINGS) : rng.bytes(rng.int(40)).toString('latin1');
}

function number(rng: Rng): number {
  return rng.chance(0.6) ? rng.pick(INTERESTING_NUMBERS) : rng.int(1000);
}

/** A valid frame a device may send (or, now and then, one only the server sends). */
function deviceFrame(rng: Rng, state: { requestId: number; credentials: { deviceId: string; secret: string } | null }): FrameInit {
  const requestId = rng.chance(0.9) ? ++state.requestId : number(rng);
  switch (rng.int(12)) {
    case 0:
      return { hello: { protocolVersion: PROTOCOL_VERSION } };
    case 1:
    case 2:
      return { register: { requestId, applicationId: text(rng), registrationId: rng.chance(0.5) ? text(rng) : '', deviceUser: rng.chance(0.3) ? String(number(rng)) : '' } };
    case 3:
      return { unregister: { requestId, applicationId: text(rng), registrationId: text(rng) } };
    case 4:
      return { subscribe: { requestId, registrationId: text(rng), topics: Array.from({ length: rng.int(4) }, () => text(rng)) } };
    case 5:
      return { unsubscribe: { requestId, registrationId: text(rng), topics: Array.from({ length: rng.int(4) }, () => text(rng)) } };
    case 6:
    case 7:
      return { ack: { messageIds: Array.from({ length: rng.int(5) }, () => (rng.chance(0.5) ? `m-${rng.int(20)}` : text(rng))) } };
    case 8:
    case 9:
      return { ping: { nonce: number(rng) } };
    case 10:
      return { rotateCredentials: { requestId } };
    default:
      return rng.pick<FrameInit>([
        { welcome: { deviceId: 'd', heartbeatIntervalMs: 1 } },
        { notification: { messageId: 'm', applicationId: 'a' } },
        // Protocol version 3; mutated, a Notifications frame with broken inner notifications.
        { notifications: { notifications: [{ messageId: 'm', applicationId: 'a', title: text(rng) }, { messageId: 'n', data: text(rng) }] } },
        { pong: { nonce: 1 } },
        { goAway: { reconnectDelayMs: 1 } },
        { error: { code: DeviceErrorCode.INTERNAL, message: 'x' } },
        {},
      ]);
  }
}

/** Varint bytes of n (a length prefix the mutator may splice in). */
function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  do {
    let byte = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) byte |= 0x80;
    out.push(byte);
  } while (v > 0);
  return Buffer.from(out);
}

/** One random mutation of `bytes` (a frame body, or a run of length-prefixed frames). */
function mutate(rng: Rng, bytes: Buffer): Buffer {
  const at = (extra = 0) => rng.int(bytes.length + extra);
  switch (rng.int(9)) {
    case 0: {
      if (bytes.length === 0) return bytes;
      const copy = Buffer.from(bytes);
      copy[at()]! ^= 1 << rng.int(8);
      return copy;
    }
    case 1: {
      if (bytes.length === 0) return bytes;
      const copy = Buffer.from(bytes);
      copy[at()] = rng.pick([0x00, 0x7f, 0x80, 0xff, rng.int(256)]);
      return copy;
    }
    case 2: {
      const i = at(1);
      return Buffer.concat([bytes.subarray(0, i), rng.bytes(1 + rng.int(8)), bytes.subarray(i)]);
    }
    case 3: {
      const i = at();
      return Buffer.concat([bytes.subarray(0, i), bytes.subarray(Math.min(bytes.length, i + 1 + rng.int(8)))]);
    }
    case 4:
      return bytes.subarray(0, at());
    case 5: {
      const i = at();
      const j = Math.min(bytes.length, i + 1 + rng.int(16));
      return Buffer.concat([bytes.subarray(0, j), bytes.subarray(i, j), bytes.subarray(j)]);
    }
    case 6: {
      // A length prefix or a field length, anywhere.
      const i = at(1);
      const n = rng.pick([0, 1, 127, 128, MAX_FRAME_BYTES, MAX_FRAME_BYTES + 1, 2 ** 31, 2 ** 35, rng.int(200)]);
      return Buffer.concat([bytes.subarray(0, i), varint(n), bytes.subarray(i)]);
    }
    case 7:
      // A run of continuation bytes: a varint that never ends.
      return Buffer.concat([bytes.subarray(0, at(1)), Buffer.alloc(1 + rng.int(12), 0xff)]);
    default:
      return rng.bytes(1 + rng.int(32));
  }
}

type Wire = 'tcp' | 'ws';

interface Case {
  n: number;
  wire: Wire;
  /** What the case sends before its Ping: length-prefixed bytes (TCP) or one buffer per message (WebSocket). */
  messages: Buffer[];
  /** Write each TCP message in pieces. */
  pieces: number[][];
  nonce: number;
}

function makeCase(seed: number, n: number): Case {
  const rng = rngOf(seed, n);
  const wire: Wire = rng.chance(0.75) ? 'tcp' : 'ws';
  const state = { requestId: 0, credentials: null };
  const frames: FrameInit[] = [];
  // Mostly a valid Hello first, so that the open connection's rules are fuzzed too.
  if (rng.chance(0.9)) frames.push({ hello: { protocolVersion: rng.chance(0.8) ? PROTOCOL_VERSION : number(rng), minProtocolVersion: rng.chance(0.8) ? 0 : number(rng) } });
  for (let k = rng.int(8); k > 0; k--) frames.push(deviceFrame(rng, state));
  let messages: Buffer[] = frames.map((f) => Buffer.from(encodeFrame(f)));
  const mutations = rng.int(4);
  for (let k = 0; k < mutations && messages.length > 0; k++) {
    const i = rng.int(messages.length);
    messages[i] = mutate(rng, messages[i]!);
  }
  if (wire === 'tcp') {
    // A byte stream: the mutations may also hit the prefixes and the boundaries between frames.
    let stream: Buffer = Buffer.concat(messages.map((m) => lengthPrefixed(m)));
    if (rng.chance(0.3)) stream = mutate(rng, stream);
    messages = [stream];
  }
  const pieces = messages.map((m) => {
    const cuts: number[] = [];
    if (m.length > 1 && rng.chance(0.5)) for (let k = rng.int(6); k > 0; k--) cuts.push(1 + rng.int(m.length - 1));
    return [...new Set(cuts)].sort((a, b) => a - b);
  });
  return { n, wire, messages, pieces, nonce: 1_000_000 + n };
}

/** What the server sees of a TCP case's bytes: the frames it can decode, and whether the bytes end inside a frame. */
function serverView(c: Case): { frames: Frame[]; endsInsideFrame: boolean } {
  if (c.wire === 'ws') {
    const frames: Frame[] = [];
    for (const m of c.messages) {
      try {
        frames.push(decodeFrame(m));
      } catch {
        return { frames, endsInsideFrame: false };
      }
    }
    return { frames, endsInsideFrame: false };
  }
  const splitter = new FrameSplitter(MAX_FRAME_BYTES);
  const frames: Frame[] = [];
  try {
    for (const body of splitter.push(c.messages[0]!)) frames.push(decodeFrame(body));
  } catch (err) {
    if (!(err instanceof FrameError) && !(err instanceof Error)) throw err;
    return { frames, endsInsideFrame: false };
  }
  return { frames, endsInsideFrame: splitter.bufferedBytes > 0 };
}

const REQUEST_KINDS = new Set(['register', 'unregister', 'subscribe', 'unsubscribe', 'rotateCredentials']);

/** Request ids the server must answer: those of the requests it decoded after Hello. */
function requestIdsOf(frames: Frame[]): number[] {
  if (frames[0]?.kind !== 'hello') return [];
  const ids: number[] = [];
  for (const f of frames.slice(1)) {
    if (!f.kind || !REQUEST_KINDS.has(f.kind)) continue;
    const requestId = (f[f.kind] as { requestId?: number } | null | undefined)?.requestId ?? 0;
    if (requestId !== 0) ids.push(requestId);
  }
  return ids;
}

/** One connection of a case: sends its bytes, collects what the server answers. */
class Peer {
  readonly frames: Frame[] = [];
  closed = false;
  private readonly splitter = new FrameSplitter(MAX_FRAME_BYTES);
  private constructor(
    private readonly tcp: Socket | null,
    private readonly ws: WebSocket | null,
  ) {}

  static async open(wire: Wire, addresses: { tcp: number; ws: number }): Promise<Peer> {
    if (wire === 'tcp') {
      const socket = await new Promise<Socket>((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port: addresses.tcp }, () => resolve(s));
        s.once('error', reject);
      });
      const peer = new Peer(socket, null);
      socket.on('data', (chunk: Buffer) => {
        for (const body of peer.splitter.push(chunk)) peer.frames.push(decodeFrame(body));
      });
      socket.on('error', () => undefined);
      socket.on('close', () => (peer.closed = true));
      return peer;
    }
    const ws = new WebSocket(`ws://127.0.0.1:${addresses.ws}${WEBSOCKET_PATH}`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const peer = new Peer(null, ws);
    ws.on('message', (data: Buffer) => peer.frames.push(decodeFrame(data)));
    ws.on('error', () => undefined);
    ws.on('close', () => (peer.closed = true));
    return peer;
  }

  async send(c: Case): Promise<void> {
    for (const [i, message] of c.messages.entries()) {
      if (this.closed) return;
      if (this.ws) {
        this.ws.send(message, { binary: true });
        continue;
      }
      let from = 0;
      for (const cut of [...c.pieces[i]!, message.length]) {
        if (this.closed) return;
        this.tcp!.write(message.subarray(from, cut));
        from = cut;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }

  hello(): void {
    if (this.ws) this.ws.send(encodeFrame({ hello: { protocolVersion: PROTOCOL_VERSION } }), { binary: true });
    else this.tcp!.write(lengthPrefixed(encodeFrame({ hello: { protocolVersion: PROTOCOL_VERSION } })));
  }

  ping(nonce: number): void {
    if (this.closed) return;
    if (this.ws) this.ws.send(encodeFrame({ ping: { nonce } }), { binary: true });
    else this.tcp!.write(lengthPrefixed(encodeFrame({ ping: { nonce } })));
  }

  /** Closes our side only: the server must close its side. */
  end(): void {
    if (this.ws) this.ws.close();
    else this.tcp!.end();
  }

  destroy(): void {
    if (this.ws) this.ws.terminate();
    else this.tcp!.destroy();
  }

  /** The last Error about the connection (request id 0): with a close after it, the connection fault. */
  fault(): Frame['error'] | undefined {
    return this.frames.findLast((f) => f.kind === 'error' && !f.error?.requestId)?.error;
  }

  answered(requestId: number): boolean {
    return this.frames.some((f) => {
      const body = f.kind === undefined ? undefined : (f[f.kind] as { requestId?: number } | null | undefined);
      return (f.kind === 'registerResult' || f.kind === 'requestResult' || f.kind === 'credentialsRotated' || f.kind === 'error') && body?.requestId === requestId;
    });
  }
}

async function until(what: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!what()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}

/** Runs one case; returns why it failed, or null. */
async function runCase(c: Case, addresses: { tcp: number; ws: number }): Promise<string | null> {
  const peer = await Peer.open(c.wire, addresses);
  try {
    await peer.send(c);
    peer.ping(c.nonce);
    const view = serverView(c);
    const ponged = () => peer.frames.some((f) => f.kind === 'pong' && f.pong?.nonce === c.nonce);
    await until(() => ponged() || peer.closed, ANSWER_MS);
    if (ponged()) {
      const missing = requestIdsOf(view.frames).filter((id) => !peer.answered(id));
      if (missing.length === 0) return null;
      // Replies and request timeouts come later than the Pong.
      if (await until(() => missing.every((id) => peer.answered(id)) || peer.closed, REGISTRATION_TIMEOUT_MS + ANSWER_MS)) {
        if (missing.every((id) => peer.answered(id)) || peer.fault()) return null;
      }
      return `requests ${missing.filter((id) => !peer.answered(id)).join(', ')} were never answered`;
    }
    if (view.endsInsideFrame && !peer.closed) {
      peer.end();
      return (await until(() => peer.closed, ANSWER_MS)) ? null : 'the bytes ended inside a frame; after our FIN the server did not close';
    }
    // A connection fault: an Error about the connection (request id 0), then the close, within the close grace.
    if (peer.fault() && (peer.closed || (await until(() => peer.closed, ANSWER_MS)))) return null;
    if (peer.closed) return 'the server closed the connection without an Error';
    return `no Pong for nonce ${c.nonce} and no Error within ${ANSWER_MS} ms`;
  } finally {
    peer.destroy();
  }
}

function describeCase(c: Case): string {
  return `case ${c.n} (seed ${SEED}; replay: BOREALIS_FUZZ_SEED=${SEED} BOREALIS_FUZZ_CASE=${c.n}), ${c.wire}, bytes ${c.messages.map((m) => m.toString('hex')).join(' | ')}`;
}

describe('device protocol fuzzer', () => {
  let moduleRef: TestingModule;
  let bus: InProcessMessageBus;
  let server: DeviceServer;
  let addresses: { tcp: number; ws: number };

  beforeAll(async () => {
    bus = new InProcessMessageBus({ maxAttempts: 1 });
    const inbox = transportInboxTopic(INSTANCE);
    // A stand-in push-core: every request is answered, half of them with a failure.
    await bus.subscribe({
      topic: Topics.registrationRequested,
      group: 'fuzz',
      handler: async (ms) => {
        const replies = ms.map(({ value: r }: { value: RegistrationRequestedV1 }): RegistrationReplyV1 => {
          const ok = r.correlationId.charCodeAt(0) % 2 === 0;
          return {
            kind: 'registration.reply',
            correlationId: r.correlationId,
            deviceId: r.deviceId,
            op: r.op,
            ok,
            applicationId: r.applicationId,
            registrationId: ok ? r.registrationId || `reg-${r.correlationId}` : '',
            isNew: ok && !r.registrationId,
            errorCode: ok ? null : 'NOT_FOUND',
            errorMessage: ok ? null : 'no such application',
          };
        });
        await bus.publish(inbox, replies.map((value) => ({ value })));
      },
    });
    await bus.subscribe({ topic: Topics.deviceEvents, group: 'fuzz', handler: async () => undefined });
    await bus.subscribe({ topic: Topics.deliveryReceipts, group: 'fuzz', handler: async () => undefined });
    const platform: DynamicModule = {
      module: class FuzzPlatformModule {},
      global: true,
      providers: [
        { provide: MessageBus, useValue: bus },
        { provide: PresenceStore, useValue: new MemoryPresenceStore() },
        { provide: Clock, useValue: new SystemClock() },
      ],
      exports: [MessageBus, PresenceStore, Clock],
    };
    moduleRef = await Test.createTestingModule({
      imports: [
        platform,
        TransportModule.register({
          instanceId: INSTANCE,
          host: '127.0.0.1',
          port: 0,
          webSocket: { port: 0 },
          credentialSecret: 'fuzz-test-secret-0123456789abcdef-xyzw',
          heartbeatIntervalMs: 30_000,
          registrationTimeoutMs: REGISTRATION_TIMEOUT_MS,
          drainGraceMs: 200,
          sentReceiptHoldMs: 0,
          // Every case is a new connection, most of them a new device, all from 127.0.0.1.
          acceptRatePerSecond: 100_000,
          acceptPerSource: { perSecond: 100_000, burst: 100_000 },
          enrollPerSource: { perSecond: 100_000, burst: 100_000 },
          registerPerSource: { perSecond: 100_000, burst: 100_000 },
        }),
      ],
    }).compile();
    // Init hooks run in listen(); the inbox handler is subscribed after them.
    await moduleRef.createNestMicroservice({ strategy: new BusTransport(moduleRef.get(MessageBus), resolverOf(moduleRef)) }).listen();
    await bus.start();
    server = moduleRef.get(DeviceServer);
    const a = server.addresses();
    addresses = { tcp: a.tcp.port, ws: a.webSocket!.port };
  });

  afterAll(async () => {
    await moduleRef?.close();
    await bus?.stop();
  });

  it(`answers, or closes with an Error, every mutated frame sequence within ${SECONDS} s of cases; no crash, no hang`, async () => {
    // The well-behaved device: a Ping every 600 ms (its budget is 2 a second) must be answered
    // within the bound throughout. Its idle round trip first: the best of three.
    const probe = await Peer.open('tcp', addresses);
    probe.hello();
    await until(() => probe.frames.some((f) => f.kind === 'welcome'), ANSWER_MS);
    let idleMs = Infinity;
    for (let nonce = 1; nonce <= 3; nonce++) {
      const sent = performance.now();
      probe.ping(nonce);
      await until(() => probe.frames.some((f) => f.kind === 'pong' && f.pong?.nonce === nonce), ANSWER_MS);
      idleMs = Math.min(idleMs, performance.now() - sent);
    }
    let slowestProbeMs = 0;
    let probing = true;
    const probeLoop = (async () => {
      for (let nonce = 10; probing; nonce++) {
        const sent = performance.now();
        probe.ping(nonce);
        await until(() => probe.frames.some((f) => f.kind === 'pong' && f.pong?.nonce === nonce), 10_000);
        slowestProbeMs = Math.max(slowestProbeMs, performance.now() - sent);
        // Within its Ping budget (2 a second, 20 at once).
        await new Promise((resolve) => setTimeout(resolve, 600));
      }
    })();

    const failures: string[] = [];
    let next = ONLY_CASE ?? 0;
    let ran = 0;
    const deadline = performance.now() + SECONDS * 1000;
    const worker = async () => {
      while (failures.length === 0 && (ONLY_CASE === null ? performance.now() < deadline : next === ONLY_CASE)) {
        const c = makeCase(SEED, next++);
        ran++;
        const why = await runCase(c, addresses).catch((err: unknown) => `the case threw: ${(err as Error).stack ?? String(err)}`);
        if (why) failures.push(`${why}: ${describeCase(c)}`);
      }
    };
    await Promise.all(Array.from({ length: ONLY_CASE === null ? PARALLEL : 1 }, worker));
    probing = false;
    await probeLoop;
    probe.destroy();
    process.stderr.write(`protocol-fuzz: seed ${SEED}, ${ran} cases in ${SECONDS} s, slowest probe Pong ${slowestProbeMs.toFixed(1)} ms (idle ${idleMs.toFixed(1)} ms)\n`);

    expect(failures).toEqual([]);
    expect(server.statsSnapshot().internalFailures).toBe(0);
    expect(slowestProbeMs).toBeLessThan(probeBound(idleMs));
    expect(probe.fault()).toBeUndefined();
    // Every case's connection is gone; only the server is left, and it still serves.
    await until(() => server.statsSnapshot().connectionsOpen === 0, ANSWER_MS);
    expect(server.statsSnapshot().connectionsOpen).toBe(0);
  });
});
