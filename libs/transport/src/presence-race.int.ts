import { connect, type Socket } from 'node:net';
import type { DynamicModule } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import Redis from 'ioredis';
import { FrameSplitter, PROTOCOL_VERSION, Topics, decodeFrame, encodeFramePrefixed, type DeviceEventV1, type Frame } from '@borealis/contracts';
import { PresenceStore, RedisPresenceStore } from '@borealis/keyvalue';
import { BusTransport, InProcessMessageBus, MessageBus, resolverOf } from '@borealis/messaging';
import { expectEventually, requireRedis } from '@borealis/testing';
import { Clock, SystemClock } from '@borealis/util';
import { DeviceServer, TransportModule } from './index';

const SECRET = 'presence-race-secret-0123456789abcdef';

interface Instance {
  id: string;
  moduleRef: TestingModule;
  server: DeviceServer;
  bus: InProcessMessageBus;
  events: DeviceEventV1[];
}

async function instance(id: string, presence: PresenceStore): Promise<Instance> {
  const bus = new InProcessMessageBus({ maxAttempts: 1 });
  const events: DeviceEventV1[] = [];
  await bus.subscribe({ topic: Topics.deviceEvents, group: 'test', handler: async (ms) => void events.push(...ms.map((m) => m.value)) });
  const platform: DynamicModule = {
    module: class RacePlatformModule {},
    global: true,
    providers: [
      { provide: MessageBus, useValue: bus },
      { provide: PresenceStore, useValue: presence },
      { provide: Clock, useValue: new SystemClock() },
    ],
    exports: [MessageBus, PresenceStore, Clock],
  };
  const moduleRef = await Test.createTestingModule({
    imports: [platform, TransportModule.register({ instanceId: id, host: '127.0.0.1', port: 0, credentialSecret: SECRET, heartbeatIntervalMs: 30_000, registrationTimeoutMs: 5000, drainGraceMs: 300 })],
  }).compile();
  // Init hooks run in listen(); the inbox handler is subscribed after them.
  await moduleRef.createNestMicroservice({ strategy: new BusTransport(moduleRef.get(MessageBus), resolverOf(moduleRef)) }).listen();
  await bus.start();
  return { id, moduleRef, server: moduleRef.get(DeviceServer), bus, events };
}

/** Connects, says Hello, resolves with the Welcome and the socket. */
function hello(port: number, credentials: { deviceId: string; secret: string } | null): Promise<{ socket: Socket; welcome: NonNullable<Frame['welcome']> }> {
  return new Promise((resolve, reject) => {
    const splitter = new FrameSplitter();
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(encodeFramePrefixed({ hello: { protocolVersion: PROTOCOL_VERSION, credentials } })));
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      for (const body of splitter.push(chunk)) {
        const frame = decodeFrame(body);
        if (frame.welcome) resolve({ socket, welcome: frame.welcome });
      }
    });
  });
}

describe('presence owner check under a race, two instances on one Redis', () => {
  let redis: Redis;
  let a: Instance;
  let b: Instance;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    redis = new Redis(requireRedis(), { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    const presence = new RedisPresenceStore(redis);
    [a, b] = [await instance('race-a', presence), await instance('race-b', presence)];
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    for (const i of [a, b]) {
      await i?.moduleRef.close();
      await i?.bus.stop();
    }
    await redis?.quit();
  });

  it("a device moving from A to B while A's connection closes keeps B's route, for every device and interleaving", async () => {
    const presence = new RedisPresenceStore(redis);
    const devices = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const first = await hello(a.server.address().port, null);
        sockets.push(first.socket);
        return { onA: first.socket, credentials: first.welcome.credentials as { deviceId: string; secret: string } };
      }),
    );
    const ids = devices.map((d) => d.credentials.deviceId);
    await expectEventually(async () => expect([...(await presence.lookup(ids)).values()].filter((owner) => owner === 'race-a')).toHaveLength(ids.length));

    // Half close on A before B's Hello, half after: the late disconnect is the dangerous one.
    await Promise.all(
      devices.map(async ({ onA, credentials }, i) => {
        if (i % 2 === 0) onA.destroy();
        const moved = await hello(b.server.address().port, credentials);
        sockets.push(moved.socket);
        if (i % 2 === 1) onA.destroy();
      }),
    );

    await expectEventually(() => expect(a.events.filter((e) => e.kind === 'disconnected')).toHaveLength(ids.length));
    const owners = await presence.lookup(ids);
    expect([...owners.values()]).toEqual(ids.map(() => 'race-b'));
    expect(b.server.heldDevices()).toBe(ids.length);
    expect(a.server.heldDevices()).toBe(0);
  });
});
