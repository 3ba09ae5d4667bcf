// Hostile devices against one transport (issue 15: findings 4, 5 and 7, and the "also build" suite):
// floods of every frame kind a device can send, trickled frames, half-open connections, one
// source opening connections as fast as it can, and one source enrolling devices and registering
// apps as fast as it can. Each case runs the attack against a real
// DeviceServer over TCP and asserts that a well-behaved device on the same server still gets its
// pushes within PUSH_BOUND_MS while the attack runs, besides what the attacker is held to.
//
// The bound, pushBound(): 1,000 ms plus ten times the idle latency measured in the same run. A push
// through the in-process bus to a device on loopback takes a few milliseconds on an idle machine;
// the attackers run in the test's own process, and the 2-core machines that run these tests are
// shared with other runs, so the bound leaves room for both. It is still far below what the review
// measured under an Ack flood (3.7 s and growing): the property is "not starved", not a benchmark.
import { connect, type Server, type Socket } from 'node:net';
import type { DynamicModule } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  DeviceErrorCode,
  FrameSplitter,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  Topics,
  decodeFrame,
  encodeFrame,
  lengthPrefixed,
  transportInboxTopic,
  type DeliveryReceiptV1,
  type DeliveryV1,
  type Frame,
  type FrameInit,
  type FrameKind,
  type RegistrationRequestedV1,
} from '@borealis/contracts';
import { MemoryPresenceStore, PresenceStore } from '@borealis/keyvalue';
import { BusTransport, InProcessMessageBus, MessageBus, resolverOf } from '@borealis/messaging';
import { expectEventually } from '@borealis/testing';
import { Clock, SystemClock } from '@borealis/util';
import { DeviceServer, TransportModule, type TransportModuleOptions } from './index';

const INSTANCE = 'transport-hostile';
const inbox = transportInboxTopic(INSTANCE);
let idleLatencyMs = 0;
const pushBound = () => 1000 + 10 * idleLatencyMs;
jest.setTimeout(20_000);

/** A device speaking raw frames over TCP, from a chosen loopback source address. */
class RawDevice {
  readonly frames: Frame[] = [];
  isClosed = false;
  readonly closed: Promise<void>;
  private readonly splitter = new FrameSplitter(MAX_FRAME_BYTES);

  private constructor(readonly socket: Socket) {
    this.closed = new Promise((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        for (const body of this.splitter.push(chunk)) this.frames.push(decodeFrame(body));
      });
      socket.on('error', () => undefined);
      socket.once('close', () => {
        this.isClosed = true;
        resolve();
      });
    });
  }

  static open(port: number, localAddress = '127.0.0.1'): Promise<RawDevice> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, localAddress }, () => resolve(new RawDevice(socket)));
      socket.once('error', reject);
    });
  }

  send(frame: FrameInit): boolean {
    return this.socket.write(lengthPrefixed(encodeFrame(frame)));
  }

  first<K extends FrameKind>(kind: K): NonNullable<Frame[K]> | undefined {
    return this.frames.find((f) => f.kind === kind)?.[kind] as NonNullable<Frame[K]> | undefined;
  }

  /** The Error about the connection itself (request id 0), with which the server closed it. */
  fault(): Frame['error'] | undefined {
    return this.frames.find((f) => f.kind === 'error' && !f.error?.requestId)?.error;
  }

  async waitFor<K extends FrameKind>(kind: K, match: (value: NonNullable<Frame[K]>) => boolean = () => true, timeoutMs = 5000): Promise<NonNullable<Frame[K]>> {
    return expectEventually(
      () => {
        const found = this.frames.find((f) => f.kind === kind && match(f[kind] as NonNullable<Frame[K]>));
        expect(found).toBeDefined();
        return found![kind] as NonNullable<Frame[K]>;
      },
      { timeoutMs, intervalMs: 2 },
    );
  }

  async hello(): Promise<string> {
    this.send({ hello: { protocolVersion: PROTOCOL_VERSION } });
    return (await this.waitFor('welcome')).deviceId!;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

interface Harness {
  moduleRef: TestingModule;
  server: DeviceServer;
  bus: InProcessMessageBus;
  receipts: DeliveryReceiptV1[];
  /** Registration requests the transport published (nobody answers them). */
  requests: RegistrationRequestedV1[];
  port: number;
  open(localAddress?: string): Promise<RawDevice>;
}

const opened: RawDevice[] = [];

async function boot(overrides: Partial<TransportModuleOptions> = {}): Promise<Harness> {
  const bus = new InProcessMessageBus({ maxAttempts: 1 });
  const receipts: DeliveryReceiptV1[] = [];
  await bus.subscribe({ topic: Topics.deliveryReceipts, group: 'test', handler: async (ms) => void receipts.push(...ms.map((m) => m.value)) });
  // Registration requests go unanswered: the requests time out, which is push-core's part, not this test's.
  const requests: RegistrationRequestedV1[] = [];
  await bus.subscribe({ topic: Topics.registrationRequested, group: 'test', handler: async (ms) => void requests.push(...ms.map((m) => m.value)) });
  await bus.subscribe({ topic: Topics.deviceEvents, group: 'test', handler: async () => undefined });
  const platform: DynamicModule = {
    module: class HostilePlatformModule {},
    global: true,
    providers: [
      { provide: MessageBus, useValue: bus },
      { provide: PresenceStore, useValue: new MemoryPresenceStore() },
      { provide: Clock, useValue: new SystemClock() },
    ],
    exports: [MessageBus, PresenceStore, Clock],
  };
  const moduleRef = await Test.createTestingModule({
    imports: [
      platform,
      TransportModule.register({
        instanceId: INSTANCE,
        host: '127.0.0.1',
        port: 0,
        credentialSecret: 'hostile-test-secret-0123456789abcdef-xyz',
        heartbeatIntervalMs: 30_000,
        registrationTimeoutMs: 5_000,
        drainGraceMs: 200,
        sentReceiptHoldMs: 0,
        ...overrides,
      }),
    ],
  }).compile();
  // Init hooks run in listen(); the inbox handler is subscribed after them.
  await moduleRef.createNestMicroservice({ strategy: new BusTransport(moduleRef.get(MessageBus), resolverOf(moduleRef)) }).listen();
  await bus.start();
  const server = moduleRef.get(DeviceServer);
  const port = server.address().port;
  return {
    moduleRef,
    server,
    bus,
    receipts,
    requests,
    port,
    async open(localAddress) {
      const device = await RawDevice.open(port, localAddress);
      opened.push(device);
      return device;
    },
  };
}

function tcpServer(h: Harness): Server {
  return (h.server as unknown as { tcp: Server }).tcp;
}

async function shutdown(h: Harness): Promise<void> {
  await h.moduleRef.close();
  await h.bus.stop();
}

afterAll(() => {
  for (const device of opened) device.destroy();
});

let pushes = 0;

/** One push through the bus to the device's connection; returns how long it took to arrive, after acknowledging it. */
async function pushLatency(h: Harness, device: RawDevice, deviceId: string): Promise<number> {
  const messageId = `legit-${++pushes}`;
  const now = Date.now();
  const delivery: DeliveryV1 = { kind: 'deliver', messageId, deviceId, applicationId: 'app-1', registrationId: 'reg-1', title: 'Hi', message: 'there', data: '', sentAtMs: now, expiresAtMs: now + 60_000 };
  const started = performance.now();
  await h.bus.publish(inbox, [{ value: delivery }]);
  await device.waitFor('notification', (n) => n.messageId === messageId, 10_000);
  const latency = performance.now() - started;
  device.send({ ack: { messageIds: [messageId] } });
  return latency;
}

/** Pushes to the legitimate device every 50 ms until `done` settles; returns every latency seen. */
async function pushWhile(h: Harness, device: RawDevice, deviceId: string, done: Promise<unknown>): Promise<number[]> {
  let finished = false;
  void done.finally(() => (finished = true));
  const latencies: number[] = [];
  while (!finished) {
    latencies.push(await pushLatency(h, device, deviceId));
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  latencies.push(await pushLatency(h, device, deviceId));
  return latencies;
}

/**
 * Sends frames (encoded bytes, or a function of the frame's index) as fast as the socket takes
 * them, until the server answers with a connection fault or closes, or `untilMs` passes.
 */
async function flood(device: RawDevice, frame: Buffer | ((i: number) => FrameInit), untilMs: number): Promise<number> {
  const deadline = performance.now() + untilMs;
  const stopped = () => device.isClosed || device.fault() !== undefined;
  let sent = 0;
  while (!stopped() && performance.now() < deadline) {
    // Keep the socket's own queue short: what counts is what reaches the server.
    for (let i = 0; i < 200 && !stopped() && device.socket.writableLength < 1 << 20; i++) {
      device.socket.write(Buffer.isBuffer(frame) ? frame : lengthPrefixed(encodeFrame(frame(sent))));
      sent++;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  return sent;
}

describe('hostile devices: a well-behaved device keeps getting its pushes', () => {
  let h: Harness;
  let legit: RawDevice;
  let legitId: string;

  beforeAll(async () => {
    h = await boot();
    legit = await h.open();
    legitId = await legit.hello();
    // Idle baseline: the best of three (the first warms up the path).
    const idle: number[] = [];
    for (let i = 0; i < 3; i++) idle.push(await pushLatency(h, legit, legitId));
    idleLatencyMs = Math.min(...idle);
    process.stderr.write(`hostile-devices: idle push latency ${idleLatencyMs.toFixed(1)} ms, bound ${pushBound().toFixed(0)} ms\n`);
  });
  afterAll(() => shutdown(h));

  it('an Ack flood of made-up ids becomes no receipt work, is cut off with RATE_LIMITED, and pushes stay within the bound', async () => {
    const attackers = await Promise.all(Array.from({ length: 4 }, () => h.open()));
    const attackerIds = await Promise.all(attackers.map((a) => a.hello()));
    // One real notification each, so an attacker holds something it may acknowledge.
    for (const [i, a] of attackers.entries()) await pushLatency(h, a, attackerIds[i]!);
    const receiptsBefore = h.receipts.length;
    // 1,000 made-up ids a frame (the most one Ack may carry), every frame the same.
    const forged = lengthPrefixed(encodeFrame({ ack: { messageIds: Array.from({ length: 1000 }, (_, k) => `forged-${String(k).padStart(30, '0')}`) } }));
    const attack = Promise.all(attackers.map((a) => flood(a, forged, 10_000)));
    const latencies = await pushWhile(h, legit, legitId, attack);
    const sent = await attack;

    expect(Math.max(...latencies)).toBeLessThan(pushBound());
    for (const a of attackers) {
      await a.closed;
      expect(a.fault()?.code).toBe(DeviceErrorCode.RATE_LIMITED);
    }
    // Allowed before the cut: the burst, 4,000 ids (4 frames of 1,000).
    for (const n of sent) expect(n).toBeGreaterThan(4);
    const forgedReceipts = h.receipts.slice(receiptsBefore).filter((r) => attackerIds.includes(r.deviceId));
    expect(forgedReceipts.flatMap((r) => r.messageIds).filter((id) => id.startsWith('forged-'))).toEqual([]);
    await expectEventually(() => expect(h.server.heldDevices()).toBe(1));
  });

  it.each<[string, (i: number) => FrameInit, DeviceErrorCode]>([
    ['Ping', (i) => ({ ping: { nonce: i } }), DeviceErrorCode.RATE_LIMITED],
    ['Register', (i) => ({ register: { requestId: i + 1, applicationId: 'app-1' } }), DeviceErrorCode.RATE_LIMITED],
    ['Unregister', (i) => ({ unregister: { requestId: i + 1, applicationId: 'app-1', registrationId: 'r' } }), DeviceErrorCode.RATE_LIMITED],
    ['Subscribe', (i) => ({ subscribe: { requestId: i + 1, registrationId: 'r', topics: ['t'] } }), DeviceErrorCode.RATE_LIMITED],
    ['Unsubscribe', (i) => ({ unsubscribe: { requestId: i + 1, registrationId: 'r', topics: ['t'] } }), DeviceErrorCode.RATE_LIMITED],
    ['RotateCredentials', (i) => ({ rotateCredentials: { requestId: i + 1 } }), DeviceErrorCode.RATE_LIMITED],
    ['empty Ack', () => ({ ack: {} }), DeviceErrorCode.RATE_LIMITED],
    ['Hello', () => ({ hello: { protocolVersion: PROTOCOL_VERSION } }), DeviceErrorCode.PROTOCOL_VIOLATION],
    ['Notification (server to device only)', () => ({ notification: { messageId: 'x' } }), DeviceErrorCode.PROTOCOL_VIOLATION],
  ])('a %s flood is cut off and pushes stay within the bound', async (_, frame, code) => {
    const attackers = await Promise.all(Array.from({ length: 3 }, () => h.open()));
    await Promise.all(attackers.map((a) => a.hello()));
    const attack = Promise.all(attackers.map((a) => flood(a, frame, 10_000)));
    const latencies = await pushWhile(h, legit, legitId, attack);
    await attack;
    expect(Math.max(...latencies)).toBeLessThan(pushBound());
    for (const a of attackers) {
      await a.closed;
      expect(a.fault()?.code).toBe(code);
    }
    await expectEventually(() => expect(h.server.heldDevices()).toBe(1));
  });

  it('frames trickled a byte at a time cost linear work: pushes stay within the bound', async () => {
    const tricklers = await Promise.all(Array.from({ length: 20 }, () => h.open()));
    await Promise.all(tricklers.map((t) => t.hello()));
    for (const t of tricklers) t.socket.setNoDelay(true);
    // A 4 KiB Ack frame each (short made-up ids), one byte per write and per turn of the event loop,
    // so that the server reads it in 1-byte pieces.
    const bytes = lengthPrefixed(encodeFrame({ ack: { messageIds: Array.from({ length: 250 }, (_, k) => `t-${String(k).padStart(12, '0')}`) } }));
    const trickle = (async () => {
      for (let k = 0; k < bytes.length; k++) {
        for (const t of tricklers) t.socket.write(bytes.subarray(k, k + 1));
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const latencies = await pushWhile(h, legit, legitId, trickle);
    expect(Math.max(...latencies)).toBeLessThan(pushBound());
    // The whole frames arrived and were read: an Ack of ids never written is no work, and the connections stay.
    for (const t of tricklers) t.send({ ping: { nonce: 77 } });
    for (const t of tricklers) await t.waitFor('pong', (p) => p.nonce === 77);
    for (const t of tricklers) t.destroy();
  });
});

describe('hostile devices: half-open connections', () => {
  it('connections that never say Hello, or stop in the middle of a frame, are cut at the Hello deadline; pushes stay within the bound', async () => {
    // Heartbeat 1 s: the Hello deadline is min(2.5 heartbeats, 10 s) = 2.5 s.
    const h = await boot({ heartbeatIntervalMs: 1000 });
    try {
      const legit = await h.open();
      const legitId = await legit.hello();
      const silent = await Promise.all(Array.from({ length: 50 }, () => h.open()));
      const partial = await Promise.all(Array.from({ length: 50 }, () => h.open()));
      // A length prefix of 60,000 bytes and 10 of them: the splitter waits for the rest, which never comes.
      for (const p of partial) p.socket.write(Buffer.concat([Buffer.from([0xe0, 0xd4, 0x03]), Buffer.alloc(10)]));
      const allCut = Promise.all([...silent, ...partial].map((d) => d.closed));
      // The legitimate device pings (its heartbeat) while it waits.
      const heartbeat = setInterval(() => legit.send({ ping: { nonce: 1 } }), 500);
      try {
        const latencies = await pushWhile(h, legit, legitId, allCut);
        expect(Math.max(...latencies)).toBeLessThan(pushBound());
      } finally {
        clearInterval(heartbeat);
      }
      for (const d of [...silent, ...partial]) expect(d.fault()?.code).toBe(DeviceErrorCode.PROTOCOL_VIOLATION);
      expect(h.server.statsSnapshot().connectionsOpen).toBe(1);
    } finally {
      await shutdown(h);
    }
  });
});

describe('hostile devices: admission shares (finding 7)', () => {
  it('one source opening connections as fast as it can takes no more than its share; other sources are admitted', async () => {
    // Global: 20 at once, then 10 a second. One source: 4 at once, then 2 a second.
    const h = await boot({ acceptRatePerSecond: 10, acceptBurst: 20, acceptPerSource: { perSecond: 2, burst: 4 }, goAwaySpreadMs: 1000 });
    try {
      const started = performance.now();
      const flooderAttempts = await Promise.all(Array.from({ length: 60 }, () => h.open('127.0.0.2')));
      // Six other sources, two devices each, while the flooder keeps trying.
      const others = await Promise.all(Array.from({ length: 12 }, (_, i) => h.open(`127.0.0.${3 + (i % 6)}`)));
      const moreFlooding = await Promise.all(Array.from({ length: 60 }, () => h.open('127.0.0.2')));

      const admitted = async (d: RawDevice) => {
        d.send({ hello: { protocolVersion: PROTOCOL_VERSION } });
        await expectEventually(() => expect(d.isClosed || d.frames.length > 0).toBe(true));
        return d.frames[0]?.kind !== 'goAway' && !d.isClosed;
      };
      const flooderAdmitted = (await Promise.all([...flooderAttempts, ...moreFlooding].map(admitted))).filter(Boolean).length;
      const othersAdmitted = (await Promise.all(others.map(admitted))).filter(Boolean).length;
      // The server accepts when its event loop gets to it, which may be after the client's connect
      // completed: the time until every answer arrived bounds the time the source had.
      const elapsedS = (performance.now() - started) / 1000;

      expect(othersAdmitted).toBe(12);
      // Its burst plus its rate over the time the test took (rounded up), far below the 20 the global bucket would give it.
      expect(flooderAdmitted).toBeLessThanOrEqual(4 + Math.ceil(2 * elapsedS));
      expect(flooderAdmitted).toBeGreaterThanOrEqual(4);
      expect(h.server.statsSnapshot().connectionsOverSourceShare).toBe(120 - flooderAdmitted);
      // The refused sockets were sent a Hello after the server's GoAway: the server still reads to their end and lets them go.
      await expectEventually(async () => expect(await new Promise((resolve) => tcpServer(h).getConnections((_, n) => resolve(n)))).toBe(12 + flooderAdmitted));
    } finally {
      await shutdown(h);
    }
  });
});

describe('hostile devices: enrollment and registration floods (finding 5)', () => {
  it('one source enrolling new devices as fast as it can gets its enrollment budget, RATE_LIMITED beyond it; other sources and known devices are not held up; pushes stay within the bound', async () => {
    // One source: 10 new devices at once, then 2 a second.
    const h = await boot({ enrollPerSource: { perSecond: 2, burst: 10 } });
    try {
      const legit = await h.open();
      const legitId = await legit.hello();
      const started = performance.now();
      const attempts = await Promise.all(Array.from({ length: 60 }, () => h.open('127.0.0.2')));
      const answered = Promise.all(
        attempts.map(async (d) => {
          d.send({ hello: { protocolVersion: PROTOCOL_VERSION } });
          await expectEventually(() => expect(d.frames.length).toBeGreaterThan(0));
        }),
      );
      const latencies = await pushWhile(h, legit, legitId, answered);
      const elapsedS = (performance.now() - started) / 1000;
      expect(Math.max(...latencies)).toBeLessThan(pushBound());

      const welcomed = attempts.filter((d) => d.frames[0]?.kind === 'welcome');
      expect(welcomed.length).toBeGreaterThanOrEqual(10);
      expect(welcomed.length).toBeLessThanOrEqual(10 + Math.ceil(2 * elapsedS));
      for (const d of attempts.filter((a) => !welcomed.includes(a))) {
        await d.closed;
        expect(d.fault()?.code).toBe(DeviceErrorCode.RATE_LIMITED);
      }
      expect(h.server.statsSnapshot().enrollmentsOverSourceLimit).toBe(60 - welcomed.length);
      // Another source enrolls; a device of the flooding source that has its credentials is let in.
      const other = await h.open('127.0.0.3');
      await other.hello();
      const credentials = welcomed[0]!.first('welcome')!.credentials!;
      const returning = await h.open('127.0.0.2');
      returning.send({ hello: { protocolVersion: PROTOCOL_VERSION, credentials } });
      expect((await returning.waitFor('welcome')).deviceId).toBe(credentials.deviceId);
    } finally {
      await shutdown(h);
    }
  });

  it('Registers from one source across its connections reach push-core within the source budget; the rest are answered RATE_LIMITED and the connections stay', async () => {
    // One source: 20 Registers at once, then 5 a second, whatever the connection.
    const h = await boot({ registerPerSource: { perSecond: 5, burst: 20 } });
    try {
      const devices = await Promise.all(Array.from({ length: 10 }, () => h.open('127.0.0.4')));
      await Promise.all(devices.map((d) => d.hello()));
      const started = performance.now();
      // 8 each: within each connection's own request budget (burst 100), 80 from the source.
      for (const d of devices) for (let i = 1; i <= 8; i++) d.send({ register: { requestId: i, applicationId: `app-${i}` } });
      const refused = () => devices.flatMap((d) => d.frames.filter((f) => f.kind === 'error' && f.error?.code === DeviceErrorCode.RATE_LIMITED));
      await expectEventually(() => expect(h.requests.length + refused().length).toBe(80));
      const elapsedS = (performance.now() - started) / 1000;
      expect(h.requests.length).toBeGreaterThanOrEqual(20);
      expect(h.requests.length).toBeLessThanOrEqual(20 + Math.ceil(5 * elapsedS));
      // Answered per request, not as a connection fault.
      expect(refused().every((f) => (f.error?.requestId ?? 0) > 0)).toBe(true);
      expect(h.server.statsSnapshot().registersOverSourceLimit).toBe(refused().length);
      for (const d of devices) {
        d.send({ ping: { nonce: 5 } });
        await d.waitFor('pong', (p) => p.nonce === 5);
      }
      // Another source still registers.
      const other = await h.open('127.0.0.5');
      await other.hello();
      const before = h.requests.length;
      other.send({ register: { requestId: 1, applicationId: 'app-1' } });
      await expectEventually(() => expect(h.requests.length).toBe(before + 1));
    } finally {
      await shutdown(h);
    }
  });
});
