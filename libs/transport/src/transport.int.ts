import { connect, type Socket } from 'node:net';
import { Test, type TestingModule } from '@nestjs/testing';
import type { DynamicModule } from '@nestjs/common';
import {
  DeviceErrorCode,
  FrameSplitter,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  Topics,
  decodeFrame,
  encodeFramePrefixed,
  lengthPrefixed,
  transportInboxTopic,
  type DeliveryReceiptV1,
  type DeliveryV1,
  type DeviceEventV1,
  type Frame,
  type FrameInit,
  type FrameKind,
  type RegistrationRequestedV1,
  type TopicDef,
} from '@borealis/contracts';
import { MemoryPresenceStore, PresenceStore } from '@borealis/keyvalue';
import { BusTransport, InProcessMessageBus, MessageBus, type PublishRecord, resolverOf } from '@borealis/messaging';
import { expectEventually } from '@borealis/testing';
import { Clock, sleep, SystemClock } from '@borealis/util';
import { DeviceServer, TransportModule, type TransportModuleOptions } from './index';

/** The default spread of GoAway reconnect delays (goAwaySpreadMs). */
const GOAWAY_SPREAD_MS = 5000;

const INSTANCE = 'transport-it';
const inbox = transportInboxTopic(INSTANCE);

/** A raw device: a TCP socket with a frame reader built on FrameSplitter. */
class RawDevice {
  readonly frames: Frame[] = [];
  private cursor = 0;
  private readonly splitter = new FrameSplitter(MAX_FRAME_BYTES);
  readonly closed: Promise<void>;
  isClosed = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const body of this.splitter.push(chunk)) this.frames.push(decodeFrame(body));
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        resolve();
      }),
    );
  }

  static open(port: number): Promise<RawDevice> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => resolve(new RawDevice(socket)));
      socket.once('error', reject);
    });
  }

  send(frame: FrameInit): void {
    this.socket.write(encodeFramePrefixed(frame));
  }

  /** The next frame the server sent, which must be of `kind`. */
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

  async hello(credentials?: { deviceId: string; secret: string }) {
    this.send({ hello: { protocolVersion: PROTOCOL_VERSION, credentials: credentials ?? null, clientName: 'int-test' } });
    return this.next('welcome');
  }

  close(): Promise<void> {
    this.socket.end();
    return this.closed;
  }
}

interface Harness {
  moduleRef: TestingModule;
  server: DeviceServer;
  bus: InProcessMessageBus;
  presence: MemoryPresenceStore;
  deviceEvents: DeviceEventV1[];
  receipts: DeliveryReceiptV1[];
  requests: RegistrationRequestedV1[];
  devices: RawDevice[];
  open(): Promise<RawDevice>;
}

async function boot(overrides: Partial<TransportModuleOptions> = {}, bus = new InProcessMessageBus({ maxAttempts: 1 })): Promise<Harness> {
  const presence = new MemoryPresenceStore();
  const deviceEvents: DeviceEventV1[] = [];
  const receipts: DeliveryReceiptV1[] = [];
  const requests: RegistrationRequestedV1[] = [];
  await bus.subscribe({ topic: Topics.deviceEvents, group: 'test', handler: async (ms) => void deviceEvents.push(...ms.map((m) => m.value)) });
  await bus.subscribe({ topic: Topics.deliveryReceipts, group: 'test', handler: async (ms) => void receipts.push(...ms.map((m) => m.value)) });
  await bus.subscribe({ topic: Topics.registrationRequested, group: 'test', handler: async (ms) => void requests.push(...ms.map((m) => m.value)) });
  const platform: DynamicModule = {
    module: class TestPlatformModule {},
    global: true,
    providers: [
      { provide: MessageBus, useValue: bus },
      { provide: PresenceStore, useValue: presence },
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
        credentialSecret: 'integration-test-secret-0123456789abcdef',
        heartbeatIntervalMs: 30_000,
        registrationTimeoutMs: 5_000,
        // Raw test devices do not close on GoAway: cut them soon.
        drainGraceMs: 300,
        ...overrides,
      }),
    ],
  }).compile();
  // Init hooks run in listen(); the inbox handler is subscribed after them.
  await moduleRef.createNestMicroservice({ strategy: new BusTransport(moduleRef.get(MessageBus), resolverOf(moduleRef)) }).listen();
  await bus.start();
  const server = moduleRef.get(DeviceServer);
  const devices: RawDevice[] = [];
  return {
    moduleRef,
    server,
    bus,
    presence,
    deviceEvents,
    receipts,
    requests,
    devices,
    async open() {
      const device = await RawDevice.open(server.address().port);
      devices.push(device);
      return device;
    },
  };
}

async function shutdown(h: Harness): Promise<void> {
  for (const device of h.devices) device.socket.destroy();
  await h.moduleRef.close();
  await h.bus.stop();
}

function delivery(deviceId: string, messageId: string, overrides: Partial<DeliveryV1> = {}): DeliveryV1 {
  const now = Date.now();
  return {
    kind: 'deliver',
    messageId,
    deviceId,
    applicationId: 'app-1',
    registrationId: 'reg-1',
    title: 'Hello',
    message: 'World',
    data: '{"k":"v"}',
    sentAtMs: now,
    expiresAtMs: now + 60_000,
    ...overrides,
  };
}

describe('transport over TCP', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await boot();
  });

  afterAll(async () => {
    await shutdown(h);
  });

  it('listens on an ephemeral port and reports readiness', () => {
    expect(h.server.isListening()).toBe(true);
    expect(h.server.address().port).toBeGreaterThan(0);
  });

  it('welcomes a new device with credentials, sets presence and announces it', async () => {
    const device = await h.open();
    const welcome = await device.hello();
    expect(welcome.protocolVersion).toBe(PROTOCOL_VERSION);
    expect(welcome.heartbeatIntervalMs).toBe(30_000);
    expect(welcome.credentials?.deviceId).toBe(welcome.deviceId);
    expect(welcome.credentials?.secret).toBeTruthy();
    const deviceId = welcome.deviceId!;
    await expectEventually(async () => expect((await h.presence.lookup([deviceId])).get(deviceId)).toBe(INSTANCE));
    await expectEventually(() => expect(h.deviceEvents).toContainEqual(expect.objectContaining({ kind: 'connected', deviceId, instanceId: INSTANCE })));
    await device.close();
  });

  it('dates the connected event at the Hello, before a Register sent at once on that connection, however slow presence is (finding 5)', async () => {
    const slow = await boot();
    try {
      // push-core confirms the registrations made before a device's connection: this connection's own must come after it.
      const set = slow.presence.set.bind(slow.presence);
      slow.presence.set = async (...args) => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        return set(...args);
      };
      const device = await slow.open();
      const deviceId = (await device.hello()).deviceId!;
      device.send({ register: { requestId: 1, applicationId: 'app-1' } });
      await expectEventually(() => expect(slow.requests.some((r) => r.deviceId === deviceId)).toBe(true));
      await expectEventually(() => expect(slow.deviceEvents.some((e) => e.kind === 'connected' && e.deviceId === deviceId)).toBe(true));
      const connected = slow.deviceEvents.find((e) => e.kind === 'connected' && e.deviceId === deviceId)!;
      expect(connected.atMs).toBeLessThanOrEqual(slow.requests.find((r) => r.deviceId === deviceId)!.atMs);
      await device.close();
    } finally {
      await shutdown(slow);
    }
  });

  it('keeps the device id on reconnect with its credentials, and releases presence on close', async () => {
    const first = await h.open();
    const { credentials } = await first.hello();
    const deviceId = credentials!.deviceId!;
    await first.close();
    await expectEventually(async () => expect((await h.presence.lookup([deviceId])).has(deviceId)).toBe(false));
    await expectEventually(() => expect(h.deviceEvents).toContainEqual(expect.objectContaining({ kind: 'disconnected', deviceId })));

    const again = await h.open();
    const welcome = await again.hello({ deviceId, secret: credentials!.secret! });
    expect(welcome.deviceId).toBe(deviceId);
    expect(welcome.credentials).toBeNull();
    await expectEventually(async () => expect((await h.presence.lookup([deviceId])).get(deviceId)).toBe(INSTANCE));
    await again.close();
  });

  it('refuses forged credentials with UNAUTHENTICATED and closes', async () => {
    const device = await h.open();
    device.send({ hello: { protocolVersion: PROTOCOL_VERSION, credentials: { deviceId: 'AAAAAAAAAAAAAAAAAAAAAA', secret: 'forged' } } });
    expect((await device.next('error')).code).toBe(DeviceErrorCode.UNAUTHENTICATED);
    await device.closed;
  });

  it('delivers a Notification from the inbox, reports it sent, and reports the Ack as delivered', async () => {
    const device = await h.open();
    const deviceId = (await device.hello()).deviceId!;
    await h.bus.publish(inbox, [{ value: delivery(deviceId, 'msg-1') }]);

    const notification = await device.next('notification');
    expect(notification).toMatchObject({ messageId: 'msg-1', applicationId: 'app-1', registrationId: 'reg-1', title: 'Hello', message: 'World', data: '{"k":"v"}' });
    await expectEventually(() =>
      expect(h.receipts).toContainEqual(expect.objectContaining({ status: 'sent', deviceId, instanceId: INSTANCE, messageIds: ['msg-1'] })),
    );

    device.send({ ack: { messageIds: ['msg-1'] } });
    await expectEventually(() => expect(h.receipts).toContainEqual(expect.objectContaining({ status: 'delivered', deviceId, messageIds: ['msg-1'] })));
    await device.close();
  });

  it('reports only delivered for a notification acknowledged while its sent receipt is held, and sent for the one left unacknowledged', async () => {
    // A hold long enough that a busy machine still acknowledges within it.
    const held = await boot({ sentReceiptHoldMs: 1500 });
    try {
      const device = await held.open();
      const deviceId = (await device.hello()).deviceId!;
      await held.bus.publish(inbox, [{ value: delivery(deviceId, 'msg-quick') }, { value: delivery(deviceId, 'msg-slow') }]);
      expect((await device.next('notification')).messageId).toBe('msg-quick');
      expect((await device.next('notification')).messageId).toBe('msg-slow');
      device.send({ ack: { messageIds: ['msg-quick'] } });
      await expectEventually(() => expect(held.receipts).toContainEqual(expect.objectContaining({ status: 'delivered', deviceId, messageIds: ['msg-quick'] })));
      expect(held.receipts.filter((r) => r.status === 'sent')).toEqual([]);
      await expectEventually(() => expect(held.receipts).toContainEqual(expect.objectContaining({ status: 'sent', deviceId, messageIds: ['msg-slow'] })));
      // The hold is over for both: the acknowledged one was never reported sent.
      expect(held.receipts.filter((r) => r.status === 'sent').flatMap((r) => r.messageIds)).toEqual(['msg-slow']);
      expect(held.server.sentReceipts.size).toBe(0);

      // Shutting down publishes what is still held.
      await held.bus.publish(inbox, [{ value: delivery(deviceId, 'msg-last') }]);
      expect((await device.next('notification')).messageId).toBe('msg-last');
      expect(held.server.sentReceipts.size).toBe(1);
      await held.server.stop();
      expect(held.server.sentReceipts.size).toBe(0);
      await expectEventually(() => expect(held.receipts).toContainEqual(expect.objectContaining({ status: 'sent', deviceId, messageIds: ['msg-last'] })));
    } finally {
      await shutdown(held);
    }
  });

  it('remembers a group push until its devices acknowledge it, and reports what it holds in its stats', async () => {
    const own = await boot();
    try {
      const devices = [await own.open(), await own.open(), await own.open()];
      const ids: string[] = [];
      for (const device of devices) ids.push((await device.hello()).deviceId!);
      // Each device has one notification outstanding, then a group push goes to all three in a row:
      // past the first device, it is remembered per message (GroupDeliveries), not per connection.
      await own.bus.publish(inbox, ids.map((id, i) => ({ value: delivery(id, `direct-${i}`) })));
      await own.bus.publish(inbox, ids.map((id) => ({ value: delivery(id, 'group-1') })));
      for (const device of devices) {
        expect((await device.next('notification')).messageId).toMatch(/^direct-/);
        expect((await device.next('notification')).messageId).toBe('group-1');
      }
      const held = own.server.statsSnapshot();
      expect(held).toMatchObject({ unackedGroupMessages: 1, unackedGroupEvicted: 0 });
      expect(held.unackedGroupBytes).toBeGreaterThan(0);
      // Acknowledged by the devices it was remembered for; the run ends with the next delivery.
      devices[1]!.send({ ack: { messageIds: ['group-1'] } });
      devices[2]!.send({ ack: { messageIds: ['group-1'] } });
      await expectEventually(() => expect(own.receipts.filter((r) => r.status === 'delivered').flatMap((r) => r.messageIds)).toEqual(['group-1', 'group-1']));
      await own.bus.publish(inbox, [{ value: delivery(ids[0]!, 'direct-next') }]);
      expect((await devices[0]!.next('notification')).messageId).toBe('direct-next');
      expect(own.server.statsSnapshot()).toMatchObject({ unackedGroupMessages: 0, unackedGroupBytes: 0, unackedGroupEvicted: 0 });
      for (const device of devices) await device.close();
    } finally {
      await shutdown(own);
    }
  });

  it('reports not_held for a device it does not hold, and drops expired deliveries', async () => {
    const device = await h.open();
    const deviceId = (await device.hello()).deviceId!;
    await h.bus.publish(inbox, [
      { value: delivery('nobody-here-000000000000', 'msg-away') },
      { value: delivery(deviceId, 'msg-expired', { expiresAtMs: Date.now() - 1 }) },
      { value: delivery(deviceId, 'msg-live') },
    ]);
    expect((await device.next('notification')).messageId).toBe('msg-live');
    expect(h.receipts).toContainEqual(expect.objectContaining({ status: 'not_held', deviceId: 'nobody-here-000000000000', messageIds: ['msg-away'] }));
    expect(h.receipts.flatMap((r) => r.messageIds)).not.toContain('msg-expired');
    await device.close();
  });

  it('does not write a delivery push-core cancelled, whether the cancel comes behind it in the batch or before it', async () => {
    const device = await h.open();
    const deviceId = (await device.hello()).deviceId!;
    const cancel = (messageIds: string[]) => ({ kind: 'cancel' as const, deviceId, messageIds, atMs: Date.now() });
    // A backlog: the delivery and, behind it, its cancel in one batch.
    await h.bus.publish(inbox, [{ value: delivery(deviceId, 'msg-queued') }, { value: cancel(['msg-queued']) }]);
    // A routing that raced the cancel: the delivery arrives after it.
    await h.bus.publish(inbox, [{ value: cancel(['msg-raced']) }]);
    await h.bus.publish(inbox, [{ value: delivery(deviceId, 'msg-raced') }, { value: delivery(deviceId, 'msg-live') }]);
    expect((await device.next('notification')).messageId).toBe('msg-live');
    expect(h.receipts.flatMap((r) => r.messageIds)).not.toContain('msg-queued');
    expect(h.receipts.flatMap((r) => r.messageIds)).not.toContain('msg-raced');
    await device.close();
  });

  it('relays Register to push-core and answers RegisterResult from the reply on the inbox', async () => {
    const device = await h.open();
    const deviceId = (await device.hello()).deviceId!;
    device.send({ register: { requestId: 11, applicationId: 'app-7', registrationId: '' } });
    const request = await expectEventually(() => {
      const found = h.requests.find((r) => r.deviceId === deviceId);
      expect(found).toBeDefined();
      return found!;
    });
    expect(request).toMatchObject({ replyTo: INSTANCE, op: 'register', applicationId: 'app-7', registrationId: '', topics: [] });

    await h.bus.publish(inbox, [
      {
        value: {
          kind: 'registration.reply',
          correlationId: request.correlationId,
          deviceId,
          op: 'register',
          ok: true,
          applicationId: 'app-7',
          registrationId: 'reg-new',
          isNew: true,
          errorCode: null,
          errorMessage: null,
        },
      },
    ]);
    expect(await device.next('registerResult')).toMatchObject({ requestId: 11, applicationId: 'app-7', registrationId: 'reg-new', isNew: true });

    device.send({ subscribe: { requestId: 12, registrationId: 'reg-gone', topics: ['news'] } });
    const subscribe = await expectEventually(() => {
      const found = h.requests.find((r) => r.deviceId === deviceId && r.op === 'subscribe');
      expect(found).toBeDefined();
      return found!;
    });
    await h.bus.publish(inbox, [
      {
        value: {
          kind: 'registration.reply',
          correlationId: subscribe.correlationId,
          deviceId,
          op: 'subscribe',
          ok: false,
          applicationId: '',
          registrationId: 'reg-gone',
          isNew: false,
          errorCode: 'not_found',
          errorMessage: 'registration not found',
        },
      },
    ]);
    expect(await device.next('error')).toMatchObject({ code: DeviceErrorCode.NOT_FOUND, requestId: 12, message: 'registration not found' });
    device.send({ ping: { nonce: 5 } });
    expect((await device.next('pong')).nonce).toBe(5);
    await device.close();
  });

  it('answers garbage with MALFORMED_FRAME and closes, while another connection keeps working', async () => {
    const healthy = await h.open();
    await healthy.hello();
    const bad = await h.open();
    bad.socket.write(lengthPrefixed(Buffer.from('this is not a protobuf frame \xff\xff', 'latin1')));
    expect((await bad.next('error')).code).toBe(DeviceErrorCode.MALFORMED_FRAME);
    await bad.closed;

    healthy.send({ ping: { nonce: 77 } });
    expect((await healthy.next('pong')).nonce).toBe(77);
    await healthy.close();
  });

  it('reassembles frames split across reads per connection, with partial frames of several devices interleaved', async () => {
    const devices = [await h.open(), await h.open()];
    const hellos = devices.map(() => encodeFramePrefixed({ hello: { protocolVersion: PROTOCOL_VERSION, credentials: null, clientName: 'split-test' } }));
    const pause = () => new Promise((resolve) => setTimeout(resolve, 30));
    for (const device of devices) device.socket.setNoDelay(true);
    // The first part of each Hello, one device after the other, then the rest of each.
    for (const [i, device] of devices.entries()) {
      device.socket.write(hellos[i]!.subarray(0, 5));
      await pause();
    }
    for (const [i, device] of devices.entries()) {
      device.socket.write(hellos[i]!.subarray(5));
      await pause();
    }
    const ids = [];
    for (const device of devices) ids.push((await device.next('welcome')).deviceId);
    expect(new Set(ids).size).toBe(2);
    // A whole frame and the start of the next in one read, the rest in another.
    const pings = Buffer.concat([encodeFramePrefixed({ ping: { nonce: 1 } }), encodeFramePrefixed({ ping: { nonce: 2 } })]);
    devices[0]!.socket.write(pings.subarray(0, pings.length - 2));
    await pause();
    devices[1]!.send({ ping: { nonce: 3 } });
    expect((await devices[0]!.next('pong')).nonce).toBe(1);
    expect((await devices[1]!.next('pong')).nonce).toBe(3);
    devices[0]!.socket.write(pings.subarray(pings.length - 2));
    expect((await devices[0]!.next('pong')).nonce).toBe(2);
    for (const device of devices) await device.close();
  });

  it('answers an oversize length prefix with FRAME_TOO_LARGE and closes', async () => {
    const device = await h.open();
    // Only the prefix: the server must refuse before the body arrives.
    device.socket.write(Buffer.from([0x81, 0x80, 0x10])); // varint 262145 > MAX_FRAME_BYTES
    expect((await device.next('error')).code).toBe(DeviceErrorCode.FRAME_TOO_LARGE);
    await device.closed;
  });

  it('a second connection with the same credentials replaces the first, which keeps no say over presence', async () => {
    const first = await h.open();
    const { credentials } = await first.hello();
    const deviceId = credentials!.deviceId!;
    const second = await h.open();
    await second.hello({ deviceId, secret: credentials!.secret! });

    expect((await first.next('goAway')).reason).toMatch(/replaced/);
    await first.closed;
    await h.bus.publish(inbox, [{ value: delivery(deviceId, 'msg-after-replace') }]);
    expect((await second.next('notification')).messageId).toBe('msg-after-replace');
    expect((await h.presence.lookup([deviceId])).get(deviceId)).toBe(INSTANCE);
    expect(h.deviceEvents).not.toContainEqual(expect.objectContaining({ kind: 'disconnected', deviceId }));
    expect(second.isClosed).toBe(false);
    await second.close();
  });

  it('on close removes presence only while this instance still owns it', async () => {
    const device = await h.open();
    const deviceId = (await device.hello()).deviceId!;
    await expectEventually(async () => expect((await h.presence.lookup([deviceId])).get(deviceId)).toBe(INSTANCE));
    // The device reconnected to another instance meanwhile.
    await h.presence.set(deviceId, 'transport-other', 60);
    await device.close();
    await expectEventually(() => expect(h.deviceEvents).toContainEqual(expect.objectContaining({ kind: 'disconnected', deviceId })));
    expect((await h.presence.lookup([deviceId])).get(deviceId)).toBe('transport-other');
  });
});

/** Refuses the first `failures` publishes of delivered receipts, as a Kafka outage would. */
class ReceiptOutageBus extends InProcessMessageBus {
  refused = 0;

  constructor(private failures: number) {
    super({ maxAttempts: 1 });
  }

  /** The outage is over: the next publishes go through. */
  end(): void {
    this.failures = this.refused;
  }

  override async publish<T>(topic: TopicDef<T>, records: PublishRecord<NoInfer<T>>[]): Promise<void> {
    const delivered = topic.name === Topics.deliveryReceipts.name && records.some((r) => (r.value as DeliveryReceiptV1).status === 'delivered');
    if (delivered && this.refused < this.failures) {
      this.refused++;
      throw new Error('broker unavailable');
    }
    return super.publish(topic, records);
  }
}

describe('transport when receipts cannot be published for a while', () => {
  it("retries a device's Ack until the delivered receipt is published (the device stays connected: nothing would resend it)", async () => {
    const bus = new ReceiptOutageBus(3);
    const h = await boot({}, bus);
    try {
      const device = await h.open();
      const deviceId = (await device.hello()).deviceId!;
      await h.bus.publish(inbox, [{ value: delivery(deviceId, 'msg-outage') }]);
      await device.next('notification');
      device.send({ ack: { messageIds: ['msg-outage'] } });
      await expectEventually(() => expect(h.receipts).toContainEqual(expect.objectContaining({ status: 'delivered', deviceId, messageIds: ['msg-outage'] })), { timeoutMs: 4_000 });
      expect(bus.refused).toBe(3);
    } finally {
      await shutdown(h);
    }
  });
});

describe('presence of a connected device', () => {
  // Presence lives 3 s (three heartbeat intervals) and is renewed every second.
  const heartbeatIntervalMs = 1000;

  /** Pings like a device's daemon, so that the silent-connection timeout does not cut it. */
  function keepAlive(device: RawDevice): () => void {
    let nonce = 0;
    const timer = setInterval(() => {
      if (device.socket.destroyed) clearInterval(timer);
      else device.send({ ping: { nonce: ++nonce } });
    }, heartbeatIntervalMs / 2);
    return () => clearInterval(timer);
  }

  it('stays while a receipt is retried through a Kafka outage longer than its TTL (refreshes do not queue behind the receipt)', async () => {
    const bus = new ReceiptOutageBus(Infinity);
    const h = await boot({ heartbeatIntervalMs }, bus);
    try {
      const device = await h.open();
      const stop = keepAlive(device);
      const deviceId = (await device.hello()).deviceId!;
      await h.bus.publish(inbox, [{ value: delivery(deviceId, 'msg-long-outage') }]);
      await device.next('notification');
      device.send({ ack: { messageIds: ['msg-long-outage'] } });
      await expectEventually(() => expect(bus.refused).toBeGreaterThanOrEqual(1));
      // Twice the TTL into the outage, the route must still be there: push-core routes by it.
      const until = Date.now() + 6 * heartbeatIntervalMs;
      while (Date.now() < until) {
        expect((await h.presence.lookup([deviceId])).get(deviceId)).toBe(INSTANCE);
        await sleep(250);
      }
      bus.end();
      await expectEventually(() => expect(h.receipts).toContainEqual(expect.objectContaining({ status: 'delivered', deviceId, messageIds: ['msg-long-outage'] })), { timeoutMs: 5_000 });
      stop();
    } finally {
      await shutdown(h);
    }
  }, 30_000);

  it('is set again when found gone, and the device announced again so that push-core sends what it stored meanwhile', async () => {
    const h = await boot({ heartbeatIntervalMs });
    try {
      const device = await h.open();
      const stop = keepAlive(device);
      const deviceId = (await device.hello()).deviceId!;
      const connected = () => h.deviceEvents.filter((e) => e.kind === 'connected' && e.deviceId === deviceId).length;
      await expectEventually(() => expect(connected()).toBe(1));
      // As if the entry had expired (or Redis had lost it) while the device stayed connected.
      expect(await h.presence.removeIfOwner(deviceId, INSTANCE)).toBe(true);
      await expectEventually(async () => expect((await h.presence.lookup([deviceId])).get(deviceId)).toBe(INSTANCE), { timeoutMs: 5_000 });
      await expectEventually(() => expect(connected()).toBe(2));
      expect(h.server.statsSnapshot().presenceRestored).toBe(1);
      // Another instance's entry (a newer connection of the device there) is left alone.
      await h.presence.set(deviceId, 't-other', 30);
      await expectEventually(() => expect(h.server.statsSnapshot().presenceTaken).toBeGreaterThanOrEqual(1), { timeoutMs: 5_000 });
      expect((await h.presence.lookup([deviceId])).get(deviceId)).toBe('t-other');
      expect(connected()).toBe(2);
      stop();
    } finally {
      await shutdown(h);
    }
  }, 30_000);
});

describe('transport liveness and shutdown', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await boot({ heartbeatIntervalMs: 400 });
  });

  afterAll(async () => {
    await shutdown(h);
  });

  it('closes a connection that stays silent and releases its presence', async () => {
    const device = await h.open();
    const deviceId = (await device.hello()).deviceId!;
    await device.closed;
    await expectEventually(async () => expect((await h.presence.lookup([deviceId])).has(deviceId)).toBe(false));
  });

  it('on shutdown sends every device GoAway with a spread delay, removes presence and stops listening', async () => {
    const a = await h.open();
    const idA = (await a.hello()).deviceId!;
    const b = await h.open();
    const { credentials } = await b.hello();
    // A connection replaced by a newer one of the same device (still lingering), and one that has not sent Hello yet.
    const replacement = await h.open();
    await replacement.hello({ deviceId: credentials!.deviceId!, secret: credentials!.secret! });
    expect((await b.next('goAway')).reason).toMatch(/replaced/);
    const silent = await h.open();
    await expectEventually(() => expect(h.server.statsSnapshot().connectionsOpen).toBeGreaterThanOrEqual(4));
    const { port } = h.server.address();
    await h.server.stop();
    for (const device of [a, replacement, silent]) {
      const goAway = await device.next('goAway');
      expect(goAway.reconnectDelayMs).toBeGreaterThanOrEqual(0);
      expect(goAway.reconnectDelayMs).toBeLessThanOrEqual(GOAWAY_SPREAD_MS);
      await device.closed;
    }
    await b.closed;
    expect(h.server.statsSnapshot().connectionsOpen).toBe(0);
    expect((await h.presence.lookup([idA])).has(idA)).toBe(false);
    expect(h.server.isListening()).toBe(false);
    await expect(RawDevice.open(port)).rejects.toThrow();
  });
});
