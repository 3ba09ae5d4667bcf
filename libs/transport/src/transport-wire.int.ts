import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as connectTcp, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import type { DynamicModule } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { WebSocket } from 'ws';
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
import { DeviceServer, TransportModule, WEBSOCKET_PATH, type TransportModuleOptions } from './index';

const INSTANCE = 'transport-wire';
const inbox = transportInboxTopic(INSTANCE);
type Wire = 'tcp' | 'tls' | 'ws' | 'wss';

/** A raw device over any wire: frames out, frames in, nothing else. */
class RawDevice {
  readonly frames: Frame[] = [];
  private cursor = 0;
  isClosed = false;
  readonly closed: Promise<void>;

  private constructor(
    private readonly out: { send(bytes: Uint8Array, framed: boolean): void; raw(bytes: Buffer): void; close(): void; destroy(): void; pause(): void; resume(): void },
    subscribe: (onBytes: (chunk: Buffer) => void, onClose: () => void) => void,
    framed: boolean,
  ) {
    const splitter = new FrameSplitter(MAX_FRAME_BYTES);
    this.closed = new Promise((resolve) =>
      subscribe(
        (chunk) => {
          for (const body of framed ? splitter.push(chunk) : [chunk]) this.frames.push(decodeFrame(body));
        },
        () => {
          this.isClosed = true;
          resolve();
        },
      ),
    );
  }

  static async open(wire: Wire, port: number, ca?: string): Promise<RawDevice> {
    if (wire === 'ws' || wire === 'wss') {
      const ws = new WebSocket(`${wire}://127.0.0.1:${port}${WEBSOCKET_PATH}`, ca ? { ca } : {});
      // Listening before 'open': a server may send its first frame in the same read as the upgrade.
      const opened = new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      const device = new RawDevice(
        {
          send: (bytes) => ws.send(bytes, { binary: true }),
          raw: (bytes) => ws.send(bytes, { binary: false }),
          close: () => ws.close(),
          destroy: () => ws.terminate(),
          pause: () => ws.pause(),
          resume: () => ws.resume(),
        },
        (onBytes, onClose) => {
          ws.on('message', (data: Buffer) => onBytes(data));
          ws.on('error', () => undefined);
          ws.once('close', onClose);
        },
        false,
      );
      await opened;
      return device;
    }
    const socket: Socket = await new Promise((resolve, reject) => {
      const s: Socket =
        wire === 'tls' ? connectTls({ host: '127.0.0.1', port, ca: ca!, servername: 'localhost' }, () => resolve(s)) : connectTcp({ host: '127.0.0.1', port }, () => resolve(s));
      s.once('error', reject);
    });
    return new RawDevice(
      {
        send: (bytes) => socket.write(lengthPrefixed(bytes)),
        raw: (bytes) => socket.write(bytes),
        close: () => socket.end(),
        destroy: () => socket.destroy(),
        pause: () => socket.pause(),
        resume: () => socket.resume(),
      },
      (onBytes, onClose) => {
        socket.on('data', onBytes);
        socket.on('error', () => undefined);
        socket.once('close', onClose);
      },
      true,
    );
  }

  send(frame: FrameInit): void {
    this.out.send(encodeFrame(frame), true);
  }

  raw(bytes: Buffer): void {
    this.out.raw(bytes);
  }

  pause(): void {
    this.out.pause();
  }

  resume(): void {
    this.out.resume();
  }

  async next<K extends FrameKind>(kind: K): Promise<NonNullable<Frame[K]>> {
    const frame = await expectEventually(() => {
      const f = this.frames[this.cursor];
      expect(f).toBeDefined();
      return f!;
    });
    this.cursor++;
    expect(frame.kind).toBe(kind);
    return frame[kind] as NonNullable<Frame[K]>;
  }

  async hello(credentials?: { deviceId: string; secret: string }, protocolVersion = PROTOCOL_VERSION) {
    this.send({ hello: { protocolVersion, credentials: credentials ?? null } });
    return this.next('welcome');
  }

  close(): Promise<void> {
    this.out.close();
    return this.closed;
  }

  /** Without waiting for the server: a paused socket never reads the server's FIN, so `end` alone would stay open. */
  destroy(): void {
    this.out.destroy();
  }
}

/** The notifications among `frames` in arrival order, those of Notifications frames (protocol version 3) each on its own. */
function notificationsIn(frames: readonly Frame[]): NonNullable<Frame['notification']>[] {
  return frames.flatMap((f) => (f.kind === 'notification' ? [f.notification!] : f.kind === 'notifications' ? (f.notifications!.notifications as NonNullable<Frame['notification']>[]) : []));
}

interface Harness {
  moduleRef: TestingModule;
  server: DeviceServer;
  bus: InProcessMessageBus;
  receipts: DeliveryReceiptV1[];
  requests: RegistrationRequestedV1[];
  open(wire: Wire): Promise<RawDevice>;
}

const work = mkdtempSync(join(tmpdir(), 'transport-wire-'));
const certFile = join(work, 'cert.pem');
const keyFile = join(work, 'key.pem');
const opened: RawDevice[] = [];

beforeAll(() => {
  // A self-signed certificate for localhost and 127.0.0.1, made for this run.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
});

afterAll(() => {
  for (const device of opened) device.destroy();
  rmSync(work, { recursive: true, force: true });
});

async function boot(overrides: Partial<TransportModuleOptions> = {}): Promise<Harness> {
  const bus = new InProcessMessageBus({ maxAttempts: 1 });
  const receipts: DeliveryReceiptV1[] = [];
  const requests: RegistrationRequestedV1[] = [];
  await bus.subscribe({ topic: Topics.deliveryReceipts, group: 'test', handler: async (ms) => void receipts.push(...ms.map((m) => m.value)) });
  await bus.subscribe({ topic: Topics.registrationRequested, group: 'test', handler: async (ms) => void requests.push(...ms.map((m) => m.value)) });
  await bus.subscribe({ topic: Topics.deviceEvents, group: 'test', handler: async () => undefined });
  const platform: DynamicModule = {
    module: class WirePlatformModule {},
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
        credentialSecret: 'wire-test-secret-0123456789abcdef-xyz',
        heartbeatIntervalMs: 30_000,
        registrationTimeoutMs: 5_000,
        drainGraceMs: 500,
        tls: { port: 0, certFile, keyFile },
        webSocket: { port: 0 },
        ...overrides,
      }),
    ],
  }).compile();
  // Init hooks run in listen(); the inbox handler is subscribed after them.
  await moduleRef.createNestMicroservice({ strategy: new BusTransport(moduleRef.get(MessageBus), resolverOf(moduleRef)) }).listen();
  await bus.start();
  const server = moduleRef.get(DeviceServer);
  const ca = readFileSync(certFile, 'utf8');
  return {
    moduleRef,
    server,
    bus,
    receipts,
    requests,
    async open(wire) {
      const a = server.addresses();
      const port = wire === 'tcp' ? a.tcp.port : wire === 'tls' ? a.tls!.port : a.webSocket!.port;
      const device = await RawDevice.open(wire, port, ca);
      opened.push(device);
      return device;
    },
  };
}

async function shutdown(h: Harness): Promise<void> {
  await h.moduleRef.close();
  await h.bus.stop();
}

function delivery(deviceId: string, messageId: string, overrides: Partial<DeliveryV1> = {}): DeliveryV1 {
  const now = Date.now();
  return { kind: 'deliver', messageId, deviceId, applicationId: 'app-1', registrationId: 'reg-1', title: 'Hello', message: 'World', data: '{"k":"v"}', sentAtMs: now, expiresAtMs: now + 60_000, ...overrides };
}

describe('the same device flow over TCP, TLS and WebSocket', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await boot();
  });
  afterAll(() => shutdown(h));

  it.each<Wire>(['tcp', 'tls', 'ws'])('%s: Hello, Register relay, Notification, Ack, Ping, credential rotation, reconnect', async (wire) => {
    const device = await h.open(wire);
    const welcome = await device.hello();
    const deviceId = welcome.deviceId!;
    expect(welcome.credentials?.deviceId).toBe(deviceId);

    device.send({ register: { requestId: 1, applicationId: 'app-1' } });
    const request = await expectEventually(() => {
      const r = h.requests.find((q) => q.deviceId === deviceId);
      expect(r).toBeDefined();
      return r!;
    });
    await h.bus.publish(inbox, [
      {
        value: { kind: 'registration.reply', correlationId: request.correlationId, deviceId, op: 'register', ok: true, applicationId: 'app-1', registrationId: `reg-${wire}`, isNew: true, errorCode: null, errorMessage: null },
      },
    ]);
    expect(await device.next('registerResult')).toMatchObject({ requestId: 1, registrationId: `reg-${wire}`, isNew: true });

    await h.bus.publish(inbox, [{ value: delivery(deviceId, `m-${wire}`) }]);
    expect(await device.next('notification')).toMatchObject({ messageId: `m-${wire}`, title: 'Hello', data: '{"k":"v"}' });
    device.send({ ack: { messageIds: [`m-${wire}`] } });
    await expectEventually(() => expect(h.receipts).toContainEqual(expect.objectContaining({ status: 'delivered', deviceId, messageIds: [`m-${wire}`] })));

    device.send({ ping: { nonce: 9 } });
    expect((await device.next('pong')).nonce).toBe(9);

    device.send({ rotateCredentials: { requestId: 2 } });
    const rotated = await device.next('credentialsRotated');
    expect(rotated.credentials?.deviceId).toBe(deviceId);
    await device.close();

    const again = await h.open(wire);
    expect((await again.hello({ deviceId, secret: rotated.credentials!.secret! })).deviceId).toBe(deviceId);
    await again.close();
  });

  it('counts one source for connections from one address over every wire, and forgets it with the last of them', async () => {
    const own = await boot({ webSocket: { port: 0 } });
    const secure = await boot({ webSocket: { port: 0, secure: true } });
    try {
      const devices = [await own.open('tcp'), await own.open('tls'), await own.open('ws'), await own.open('tcp')];
      await Promise.all(devices.map((d) => d.hello()));
      expect(own.server.statsSnapshot()).toMatchObject({ connectionsOpen: 4, sourcesConnected: 1 });
      await devices[0]!.close();
      await expectEventually(() => expect(own.server.statsSnapshot().connectionsOpen).toBe(3));
      expect(own.server.statsSnapshot().sourcesConnected).toBe(1);
      await Promise.all(devices.slice(1).map((d) => d.close()));
      await expectEventually(() => expect(own.server.statsSnapshot()).toMatchObject({ connectionsOpen: 0, sourcesConnected: 0 }));

      const overTls = await secure.open('wss');
      await overTls.hello();
      expect(secure.server.statsSnapshot()).toMatchObject({ connectionsOpen: 1, sourcesConnected: 1 });
      await overTls.close();
      await expectEventually(() => expect(secure.server.statsSnapshot()).toMatchObject({ connectionsOpen: 0, sourcesConnected: 0 }));
    } finally {
      await shutdown(own);
      await shutdown(secure);
    }
  });

  it('wss: the WebSocket path over TLS', async () => {
    const secure = await boot({ webSocket: { port: 0, secure: true } });
    try {
      expect(secure.server.addresses().webSocket?.secure).toBe(true);
      const device = await secure.open('wss');
      expect((await device.hello()).deviceId).toBeTruthy();
      await device.close();
    } finally {
      await shutdown(secure);
    }
  });

  it('answers a frame kind it does not know with UNKNOWN_FRAME, over TCP and WebSocket', async () => {
    // Field 99, length-delimited, empty: a frame kind from a newer protocol.
    const unknown = Buffer.from([0x9a, 0x06, 0x00]);
    const tcp = await h.open('tcp');
    await tcp.hello();
    tcp.raw(lengthPrefixed(unknown));
    expect((await tcp.next('error')).code).toBe(DeviceErrorCode.UNKNOWN_FRAME);
    await tcp.closed;
    const ws = await h.open('ws');
    await ws.hello();
    ws.send({ ping: { nonce: 1 } });
    await ws.next('pong');
    ws['out'].send(unknown, true);
    expect((await ws.next('error')).code).toBe(DeviceErrorCode.UNKNOWN_FRAME);
    await ws.closed;
  });

  it('WebSocket: a text message is malformed and an oversize one is too large', async () => {
    const text = await h.open('ws');
    text.raw(Buffer.from('hello'));
    expect((await text.next('error')).code).toBe(DeviceErrorCode.MALFORMED_FRAME);
    await text.closed;
    const big = await h.open('ws');
    big['out'].send(Buffer.alloc(MAX_FRAME_BYTES + 10), true);
    expect((await big.next('error')).code).toBe(DeviceErrorCode.FRAME_TOO_LARGE);
    await big.closed;
  });

  it('counts connections, frames by type, deliveries, acks and errors', () => {
    const stats = h.server.statsSnapshot();
    expect(stats.connectionsAccepted).toBeGreaterThanOrEqual(8);
    expect(stats.framesIn.hello).toBeGreaterThanOrEqual(6);
    expect(stats.framesOut.welcome).toBeGreaterThanOrEqual(6);
    expect(stats.framesOut.notification).toBe(3);
    expect(stats.deliveries).toBe(3);
    expect(stats.acks).toBe(3);
    expect(stats.errors.UNKNOWN_FRAME).toBe(2);
    expect(stats.errors.FRAME_TOO_LARGE).toBe(1);
    expect(stats.connectionsByWire.tcp + stats.connectionsByWire.tls + stats.connectionsByWire.ws).toBe(stats.connectionsOpen);
  });
});

describe('protection', () => {
  it('cuts off a device that does not read before its buffer grows without bound', async () => {
    const h = await boot({ maxUnsentBytes: 64 * 1024 });
    try {
      const device = await h.open('tcp');
      const deviceId = (await device.hello()).deviceId!;
      device.pause();
      const big = 'x'.repeat(2000);
      let sent = 0;
      // Kernel buffers take a few MB on loopback before the server's own buffer grows. (A paused
      // client does not notice the reset, so the server's side is what the test watches.)
      while (h.server.heldDevices() > 0 && sent < 40_000) {
        await h.bus.publish(inbox, Array.from({ length: 500 }, () => ({ value: delivery(deviceId, `slow-${sent++}`, { message: big }) })));
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(h.server.statsSnapshot().slowReaderDrops).toBe(1);
      expect(h.server.heldDevices()).toBe(0);
      expect(h.server.statsSnapshot().deliveriesNotHeld).toBeGreaterThan(0);
    } finally {
      await shutdown(h);
    }
  });

  it('a group push to a device whose frames queue and to one that reads gives each its own registrationId', async () => {
    // TCP writes share one frame buffer while the kernel takes each write at once; a queued write must keep its bytes.
    const h = await boot({ maxUnsentBytes: 64 * 1024 * 1024 });
    try {
      const slow = await h.open('tcp');
      const slowId = (await slow.hello()).deviceId!;
      const fast = await h.open('tcp');
      const fastId = (await fast.hello()).deviceId!;
      slow.pause();
      const slowSocket = (h.server['devices'] as unknown as Map<string, { socket: Socket }>).get(slowId)!.socket;
      const big = 'x'.repeat(4000);
      let filler = 0;
      while (slowSocket.writableLength === 0 && filler < 20_000) {
        for (let i = 0; i < 100; i++) h.server.deliver(delivery(slowId, `filler-${filler++}`, { message: big }));
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(slowSocket.writableLength).toBeGreaterThan(0);
      const group = delivery('', 'group-1');
      for (let i = 10; i < 30; i++) {
        expect(h.server.deliver({ ...group, deviceId: slowId, registrationId: `reg-slow-${i}` })).not.toBe('not_held');
        expect(h.server.deliver({ ...group, deviceId: fastId, registrationId: `reg-fast-${i}` })).toBe('written');
      }
      slow.resume();
      const received = (device: RawDevice) =>
        notificationsIn(device.frames)
          .filter((n) => n.messageId === 'group-1')
          .map((n) => n.registrationId);
      const expected = (who: string) => Array.from({ length: 20 }, (_, i) => `reg-${who}-${i + 10}`);
      await expectEventually(() => expect(received(slow)).toEqual(expected('slow')));
      await expectEventually(() => expect(received(fast)).toEqual(expected('fast')));
    } finally {
      await shutdown(h);
    }
  });

  it('admission control sends connections beyond the accept rate away with a spread delay', async () => {
    // One source here: its share is the whole bucket (hostile-devices.int.ts tests the shares).
    const h = await boot({ acceptRatePerSecond: 1, acceptBurst: 2, acceptPerSource: { perSecond: 1, burst: 2 }, goAwaySpreadMs: 3000 });
    try {
      const admitted = [await h.open('tcp'), await h.open('tcp')];
      const refused = await h.open('tcp');
      const goAway = await refused.next('goAway');
      expect(goAway.reason).toMatch(/busy/);
      expect(goAway.reconnectDelayMs).toBeLessThanOrEqual(3000);
      await refused.closed;
      const ws = await h.open('ws');
      expect((await ws.next('goAway')).reason).toMatch(/busy/);
      for (const device of admitted) expect((await device.hello()).deviceId).toBeTruthy();
      expect(h.server.statsSnapshot().connectionsRejected).toBe(2);
    } finally {
      await shutdown(h);
    }
  });

  it('half-open WebSocket upgrade requests count against the connection cap and are cut at the Hello deadline (issue 15, finding 8)', async () => {
    // Heartbeat 1 s: the Hello deadline is 2.5 s. Room for three connections.
    const h = await boot({ heartbeatIntervalMs: 1000, maxConnections: 3, goAwaySpreadMs: 1000 });
    try {
      const port = h.server.addresses().webSocket!.port;
      const stalled = await Promise.all(
        Array.from({ length: 3 }, async () => {
          const socket = connectTcp({ host: '127.0.0.1', port });
          socket.on('error', () => undefined);
          await new Promise((resolve) => socket.once('connect', resolve));
          // The start of an upgrade request, never finished.
          socket.write('GET /device HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n');
          return { socket, closed: new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now()))) };
        }),
      );
      const started = performance.now();
      // The cap is taken: a real device is sent away.
      const refused = await h.open('ws');
      expect((await refused.next('goAway')).reason).toMatch(/busy/);
      const cutAt = await Promise.all(stalled.map((s) => s.closed));
      for (const at of cutAt) expect(at - started).toBeLessThan(2500 + 1500);
      expect(h.server.statsSnapshot().upgradesTimedOut).toBe(3);
      // Their places are free again.
      const device = await h.open('ws');
      expect((await device.hello()).deviceId).toBeTruthy();
    } finally {
      await shutdown(h);
    }
  });

  it('drain: readiness fails, GoAway lingers so that late Acks still count, deliveries meanwhile are not held', async () => {
    const h = await boot();
    const device = await h.open('tcp');
    const deviceId = (await device.hello()).deviceId!;
    await h.bus.publish(inbox, [{ value: delivery(deviceId, 'in-flight') }]);
    await device.next('notification');
    const stopped = h.server.stop();
    expect(h.server.isListening()).toBe(false);
    await device.next('goAway');
    expect(h.server.deliver(delivery(deviceId, 'too-late'))).toBe('not_held');
    device.send({ ack: { messageIds: ['in-flight'] } });
    await expectEventually(() => expect(h.receipts).toContainEqual(expect.objectContaining({ status: 'delivered', messageIds: ['in-flight'] })));
    await device.close();
    await stopped;
    await shutdown(h);
  });
});

describe('priority and coalescing (docs/delivery.md)', () => {
  type Held = { queuedNotifications: number; socket?: Socket };
  const connectionOf = (h: Harness, deviceId: string) => (h.server['devices'] as unknown as Map<string, Held>).get(deviceId)!;
  const sentIds = (h: Harness, deviceId: string) => h.receipts.filter((r) => r.status === 'sent' && r.deviceId === deviceId).flatMap((r) => r.messageIds);
  const big = 'x'.repeat(2000);

  /** Normal pushes to a device that does not read, until `queued` of them wait in its connection's queue; returns how many were handed over. */
  async function backlog(h: Harness, deviceId: string, queued: number): Promise<number> {
    const connection = connectionOf(h, deviceId);
    let n = 0;
    while (connection.queuedNotifications < queued && n < 50_000) {
      for (let i = 0; i < 50; i++) expect(h.server.deliver(delivery(deviceId, `normal-${n++}`, { message: big }))).not.toBe('not_held');
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(connection.queuedNotifications).toBeGreaterThanOrEqual(queued);
    return n;
  }

  it.each<[Wire, number]>([
    ['tcp', PROTOCOL_VERSION],
    ['ws', PROTOCOL_VERSION],
    ['tcp', 2],
  ])('%s, protocol version %i: a high push overtakes the queued normal backlog of a device that does not read; every push arrives once and is reported sent only once written', async (wire, version) => {
    const h = await boot({ maxUnsentBytes: 16 * 1024 * 1024, sentReceiptHoldMs: 0 });
    try {
      const device = await h.open(wire);
      const deviceId = (await device.hello(undefined, version)).deviceId!;
      device.pause();
      const handed = await backlog(h, deviceId, 100);
      const queued = connectionOf(h, deviceId).queuedNotifications;
      // Those ahead of the queue are in the socket's and the kernel's buffers already: nothing overtakes them.
      const ahead = handed - queued;
      expect(h.server.deliver(delivery(deviceId, 'urgent', { priority: 'high' }))).toBe('queued');
      await new Promise((resolve) => setTimeout(resolve, 50));
      // Nothing still waiting was reported sent: the last `queued` normal pushes and the high one.
      const waiting = new Set(['urgent', ...Array.from({ length: queued }, (_, i) => `normal-${handed - queued + i}`)]);
      expect(sentIds(h, deviceId).filter((id) => waiting.has(id))).toEqual([]);

      device.resume();
      await expectEventually(() => expect(notificationsIn(device.frames)).toHaveLength(handed + 1), { timeoutMs: 20_000 });
      const order = notificationsIn(device.frames).map((n) => n.messageId);
      expect(order.indexOf('urgent')).toBe(ahead);
      expect(new Set(order).size).toBe(handed + 1);
      // The normal pushes keep their order around it.
      expect(order.filter((id) => id !== 'urgent')).toEqual(Array.from({ length: handed }, (_, i) => `normal-${i}`));
      // A version 3 device gets the backlog packed into Notifications frames; an older one a frame per push.
      expect(device.frames.some((f) => f.kind === 'notifications')).toBe(version >= 3);
      // Each queued push reported sent once, when written (the others are the inbox consumer's, not used here).
      await expectEventually(() => expect(new Set(sentIds(h, deviceId))).toEqual(new Set([...waiting].filter((id) => id === 'urgent' || id.startsWith('normal-')))));
      const sent = sentIds(h, deviceId);
      expect(new Set(sent).size).toBe(sent.length);
      expect(h.server.statsSnapshot().slowReaderDrops).toBe(0);
    } finally {
      await shutdown(h);
    }
  }, 60_000);

  it('with the queue off (high-water mark at the unsent limit), the same high push waits behind the whole backlog', async () => {
    const h = await boot({ maxUnsentBytes: 4 * 1024 * 1024, writeHighWaterBytes: 4 * 1024 * 1024 });
    try {
      const device = await h.open('tcp');
      const deviceId = (await device.hello()).deviceId!;
      device.pause();
      const socket = (h.server['devices'] as unknown as Map<string, { socket: Socket }>).get(deviceId)!.socket;
      let n = 0;
      while (socket.writableLength < 256 * 1024 && n < 50_000) {
        for (let i = 0; i < 50; i++) expect(h.server.deliver(delivery(deviceId, `normal-${n++}`, { message: big }))).toBe('written');
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(h.server.deliver(delivery(deviceId, 'urgent', { priority: 'high' }))).toBe('written');
      expect(connectionOf(h, deviceId).queuedNotifications).toBe(0);
      device.resume();
      await expectEventually(() => expect(notificationsIn(device.frames)).toHaveLength(n + 1), { timeoutMs: 20_000 });
      expect(notificationsIn(device.frames).map((x) => x.messageId).indexOf('urgent')).toBe(n);
    } finally {
      await shutdown(h);
    }
  }, 60_000);

  it('cuts a device whose queue and socket together pass the unsent limit; what was queued is not reported sent', async () => {
    const h = await boot({ maxUnsentBytes: 256 * 1024, sentReceiptHoldMs: 0 });
    try {
      const device = await h.open('tcp');
      const deviceId = (await device.hello()).deviceId!;
      device.pause();
      let n = 0;
      let outcome = 'queued';
      while (outcome !== 'not_held' && n < 50_000) {
        outcome = h.server.deliver(delivery(deviceId, `normal-${n++}`, { message: big }));
        if (n % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      expect(outcome).toBe('not_held');
      await expectEventually(() => expect(h.server.heldDevices()).toBe(0));
      const stats = h.server.statsSnapshot();
      expect(stats.slowReaderDrops).toBe(1);
      expect(stats.queuedUnwritten).toBeGreaterThan(0);
      // Written ones (from the queue) were reported; none of those still queued at the cut.
      await expectEventually(() => expect(sentIds(h, deviceId).length).toBe(stats.deliveriesQueued - stats.queuedUnwritten));
      device.destroy();
    } finally {
      await shutdown(h);
    }
  }, 60_000);

  it('coalesces normal pushes to a version 3 device into one Notifications frame, each acknowledged by its id; versions 1 and 2 get a frame each; a high push goes at once and takes the held ones along', async () => {
    const windowMs = 1500;
    const h = await boot({ coalesceMs: windowMs, sentReceiptHoldMs: 0 });
    try {
      const v3 = await h.open('tcp');
      const v3Id = (await v3.hello()).deviceId!;
      const v2 = await h.open('ws');
      const v2Id = (await v2.hello(undefined, 2)).deviceId!;
      const v1 = await h.open('tcp');
      const v1Id = (await v1.hello(undefined, 1)).deviceId!;
      const ids = Array.from({ length: 5 }, (_, i) => `c-${i}`);
      const startedAt = performance.now();
      await h.bus.publish(inbox, [v3Id, v2Id, v1Id].flatMap((deviceId) => ids.map((id) => ({ value: delivery(deviceId, id) }))));

      const batch = await v3.next('notifications');
      expect(performance.now() - startedAt).toBeGreaterThanOrEqual(windowMs - 50);
      expect(batch.notifications!.map((n) => n.messageId)).toEqual(ids);
      expect(batch.notifications![0]).toMatchObject({ applicationId: 'app-1', registrationId: 'reg-1', title: 'Hello', message: 'World', data: '{"k":"v"}' });
      for (const device of [v2, v1]) for (const id of ids) expect((await device.next('notification')).messageId).toBe(id);
      expect(v2.frames.concat(v1.frames).some((f) => f.kind === 'notifications')).toBe(false);

      v3.send({ ack: { messageIds: ids } });
      await expectEventually(() =>
        expect(h.receipts.filter((r) => r.status === 'delivered' && r.deviceId === v3Id).flatMap((r) => r.messageIds)).toEqual(ids),
      );
      expect(sentIds(h, v3Id).sort()).toEqual(ids);

      // Two normal pushes held, then a high one: all three at once, the high one first.
      await h.bus.publish(inbox, [{ value: delivery(v3Id, 'later-1') }, { value: delivery(v3Id, 'later-2') }]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const highAt = performance.now();
      await h.bus.publish(inbox, [{ value: delivery(v3Id, 'now', { priority: 'high' }) }]);
      const together = await v3.next('notifications');
      expect(performance.now() - highAt).toBeLessThan(windowMs - 200);
      expect(together.notifications!.map((n) => n.messageId)).toEqual(['now', 'later-1', 'later-2']);
    } finally {
      await shutdown(h);
    }
  }, 30_000);

  it('a cancel from push-core takes a delivery out of the write queue, where it waited to be coalesced', async () => {
    const h = await boot({ coalesceMs: 1000, sentReceiptHoldMs: 0 });
    try {
      const device = await h.open('tcp');
      const deviceId = (await device.hello()).deviceId!;
      await h.bus.publish(inbox, [{ value: delivery(deviceId, 'keep') }, { value: delivery(deviceId, 'cancel-me') }]);
      await h.bus.publish(inbox, [{ value: { kind: 'cancel', deviceId, messageIds: ['cancel-me'], atMs: Date.now() } }]);
      const frames = await expectEventually(() => {
        expect(notificationsIn(device.frames)).toHaveLength(1);
        return device.frames;
      });
      expect(notificationsIn(frames)[0]!.messageId).toBe('keep');
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(notificationsIn(device.frames).map((n) => n.messageId)).toEqual(['keep']);
      expect(sentIds(h, deviceId)).toEqual(['keep']);
      expect(h.server.statsSnapshot().queuedCancelled).toBe(1);
    } finally {
      await shutdown(h);
    }
  });

  it('answers a malformed Notifications frame from a device with MALFORMED_FRAME, and a well-formed one with PROTOCOL_VIOLATION', async () => {
    const h = await boot();
    try {
      const malformed = await h.open('tcp');
      await malformed.hello();
      // Frame.notifications (field 17) whose one notification claims 5 bytes and has 1.
      malformed.raw(lengthPrefixed(Buffer.from([0x8a, 0x01, 0x03, 0x0a, 0x05, 0x01])));
      expect((await malformed.next('error')).code).toBe(DeviceErrorCode.MALFORMED_FRAME);
      await malformed.closed;
      const sender = await h.open('ws');
      await sender.hello();
      sender.send({ notifications: { notifications: [{ messageId: 'm', applicationId: 'a' }] } });
      expect((await sender.next('error')).code).toBe(DeviceErrorCode.PROTOCOL_VIOLATION);
      await sender.closed;
    } finally {
      await shutdown(h);
    }
  });
});
