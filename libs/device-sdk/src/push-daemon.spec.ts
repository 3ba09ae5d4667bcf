import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceErrorCode, FrameSplitter, decodeFrame, encodeFramePrefixed, type Frame, type FrameInit, type FrameKind } from '@borealis/contracts';
import { PushClient } from './push-client';
import { PushDaemon, type AppEndpoint, type PushDaemonOptions } from './push-daemon';
import type { Push, PushError } from './push';

// ---- a fake transport speaking the device protocol, for these unit tests only ----

interface Received {
  conn: FakeConnection;
  frame: Frame;
  taken: boolean;
}

class FakeConnection {
  private readonly splitter = new FrameSplitter();

  constructor(
    readonly socket: Socket,
    onFrame: (conn: FakeConnection, frame: Frame) => void,
  ) {
    socket.on('data', (chunk: Buffer) => {
      for (const body of this.splitter.push(chunk)) onFrame(this, decodeFrame(body));
    });
    socket.on('error', () => undefined);
  }

  send(...frames: FrameInit[]): void {
    for (const frame of frames) this.socket.write(encodeFramePrefixed(frame));
  }

  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  drop(): void {
    this.socket.destroy();
  }
}

class FakeServer {
  url = '';
  readonly connections: FakeConnection[] = [];
  /** Accept and immediately close every connection. */
  refuse = false;
  answerPings = true;
  heartbeatIntervalMs = 0;
  /** The protocol version put in Welcome (0: left out, as a version 1 server may). */
  protocolVersion = 0;
  /** deviceId → secret of the credentials this server issued. */
  readonly devices = new Map<string, string>();
  /** applicationId → its current registrationId. */
  readonly registrations = new Map<string, string>();
  readonly registerFailures = new Map<string, { code: DeviceErrorCode; message: string }>();
  private issued = 0;
  private registrationsIssued = 0;
  private readonly received: Received[] = [];
  private readonly waiters: Array<{ kind: FrameKind; resolve: (r: Received) => void }> = [];
  private readonly server: Server = createServer((socket) => this.accept(socket));

  async listen(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    this.url = `tcp://127.0.0.1:${address.port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const conn of this.connections) conn.drop();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** The next frame of `kind` the server received and no earlier call took. */
  next(kind: FrameKind, timeoutMs = 4000): Promise<Received> {
    const found = this.received.find((r) => !r.taken && r.frame.kind === kind);
    if (found) {
      found.taken = true;
      return Promise.resolve(found);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        kind,
        resolve: (r: Received) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`fake server received no ${kind} frame within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Acknowledged ids, in order, until `count` have arrived. */
  async acked(count: number): Promise<string[][]> {
    const batches: string[][] = [];
    while (batches.flat().length < count) batches.push((await this.next('ack')).frame.ack!.messageIds!);
    return batches;
  }

  private accept(socket: Socket): void {
    if (this.refuse) return void socket.destroy();
    this.connections.push(new FakeConnection(socket, (conn, frame) => this.onFrame(conn, frame)));
  }

  private onFrame(conn: FakeConnection, frame: Frame): void {
    this.respond(conn, frame);
    const record: Received = { conn, frame, taken: false };
    const waiter = this.waiters.findIndex((w) => w.kind === frame.kind);
    if (waiter >= 0) {
      record.taken = true;
      this.waiters.splice(waiter, 1)[0]!.resolve(record);
    }
    this.received.push(record);
  }

  private respond(conn: FakeConnection, frame: Frame): void {
    switch (frame.kind) {
      case 'hello': {
        const presented = frame.hello!.credentials;
        if (presented) {
          if (this.devices.get(presented.deviceId!) !== presented.secret) {
            conn.send({ error: { code: DeviceErrorCode.UNAUTHENTICATED, message: 'unknown device' } });
            return void conn.socket.end();
          }
          return conn.send({ welcome: { deviceId: presented.deviceId, heartbeatIntervalMs: this.heartbeatIntervalMs, protocolVersion: this.protocolVersion } });
        }
        const credentials = { deviceId: `device-${++this.issued}`, secret: `secret-${this.issued}` };
        this.devices.set(credentials.deviceId, credentials.secret);
        return conn.send({ welcome: { deviceId: credentials.deviceId, credentials, heartbeatIntervalMs: this.heartbeatIntervalMs, protocolVersion: this.protocolVersion } });
      }
      case 'register': {
        const { requestId, applicationId, registrationId, deviceUser } = frame.register!;
        const failure = this.registerFailures.get(applicationId!);
        if (failure) return conn.send({ error: { ...failure, requestId } });
        const key = deviceUser ? `${deviceUser}/${applicationId}` : applicationId!;
        const current = this.registrations.get(key);
        const isNew = !registrationId || registrationId !== current;
        const confirmed = isNew ? `reg-${applicationId}-${++this.registrationsIssued}` : current;
        this.registrations.set(key, confirmed!);
        return conn.send({ registerResult: { requestId, applicationId, registrationId: confirmed, isNew } });
      }
      case 'unregister':
      case 'subscribe':
      case 'unsubscribe':
        return conn.send({ requestResult: { requestId: frame[frame.kind]!.requestId } });
      case 'ping':
        if (this.answerPings) conn.send({ pong: { nonce: frame.ping!.nonce } });
        return;
      case 'rotateCredentials': {
        const deviceId = [...this.devices.keys()].at(-1)!;
        const credentials = { deviceId, secret: `rotated-${++this.issued}` };
        this.devices.set(deviceId, credentials.secret);
        return conn.send({ credentialsRotated: { requestId: frame.rotateCredentials!.requestId, credentials } });
      }
      default:
        return;
    }
  }
}

function notification(messageId: string, applicationId = 'app1'): FrameInit {
  return {
    notification: {
      messageId,
      applicationId,
      registrationId: `reg-${applicationId}`,
      title: `title ${messageId}`,
      message: `message ${messageId}`,
      data: '{"k":1}',
      sentAtMs: 1_700_000_000_000,
      expiresAtMs: Date.now() + 3_600_000,
    },
  };
}

/** The next `count` pushes the client receives, across events. */
function pushes(client: PushClient, count: number): Promise<Push[]> {
  return new Promise((resolve) => {
    const got: Push[] = [];
    const listener = (list: Push[]) => {
      got.push(...list);
      if (got.length < count) return;
      client.off('notifications', listener);
      resolve(got);
    };
    client.on('notifications', listener);
  });
}

function untilReady(daemon: PushDaemon): Promise<unknown> {
  return new Promise<void>((resolve) => {
    const listener = (ready: boolean) => {
      if (!ready) return;
      daemon.off('readinessChanged', listener);
      resolve();
    };
    daemon.on('readinessChanged', listener);
  });
}

// ---- fixtures ----

const FAST = { baseMs: 5, capMs: 20 };
let servers: FakeServer[] = [];
let daemons: PushDaemon[] = [];
let dirs: string[] = [];

async function fakeServer(): Promise<FakeServer> {
  const server = await new FakeServer().listen();
  servers.push(server);
  return server;
}

function daemonFor(server: FakeServer, options: Partial<PushDaemonOptions> = {}): PushDaemon {
  const daemon = new PushDaemon({ server: server.url, backoff: FAST, ...options });
  daemons.push(daemon);
  return daemon;
}

async function stateDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'device-sdk-'));
  dirs.push(dir);
  return dir;
}

/** A started daemon, welcomed, with one client registered for `applicationId` (its Hello and Register taken). */
async function registeredClient(server: FakeServer, applicationId = 'app1', options: Partial<PushDaemonOptions> = {}) {
  const daemon = daemonFor(server, options);
  const ready = untilReady(daemon);
  await daemon.start();
  await server.next('hello');
  await ready;
  const client = daemon.createClient({ applicationId });
  const registrationId = await client.registrate();
  await server.next('register');
  return { daemon, client, registrationId };
}

afterEach(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  await Promise.all(servers.map((s) => s.close()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  servers = [];
  daemons = [];
  dirs = [];
});

// ---- tests ----

describe('PushDaemon', () => {
  it("sends an application's registration secret in its Registers, and none for other applications (issue 15, finding 5)", async () => {
    const server = await fakeServer();
    const daemon = daemonFor(server, { registrationSecrets: { app1: 'brs_secret-of-app1' } });
    const ready = untilReady(daemon);
    await daemon.start();
    await server.next('hello');
    await ready;
    void daemon.createClient({ applicationId: 'app1' }).registrate();
    expect((await server.next('register')).frame.register).toMatchObject({ applicationId: 'app1', registrationSecret: 'brs_secret-of-app1' });
    void daemon.createClient({ applicationId: 'constructor' }).registrate();
    expect((await server.next('register')).frame.register).toMatchObject({ applicationId: 'constructor', registrationSecret: '' });
  });

  it('persists the credentials issued on first contact and presents them on reconnect', async () => {
    const server = await fakeServer();
    const dir = await stateDir();
    const daemon = daemonFor(server, { stateDir: dir });
    await daemon.start();

    const first = await server.next('hello');
    expect(first.frame.hello!.credentials).toBeNull();
    await untilReady(daemon);
    expect(daemon.deviceId).toBe('device-1');

    first.conn.drop();
    const second = await server.next('hello');
    expect(second.frame.hello!.credentials).toMatchObject({ deviceId: 'device-1', secret: 'secret-1' });
    expect(server.connections).toHaveLength(2);

    await daemon.stop();
    const stored = JSON.parse(await readFile(join(dir, 'push-daemon.json'), 'utf8'));
    expect(stored.credentials).toEqual({ deviceId: 'device-1', secret: 'secret-1' });
  });

  it('re-sends Hello with its registrations after a drop and re-registers the stored id', async () => {
    const server = await fakeServer();
    const { daemon, client, registrationId } = await registeredClient(server);
    const ids: string[] = [];
    const readiness: boolean[] = [];
    client.on('registrationId', (id) => ids.push(id));
    client.on('pushSystemReadinessChanged', (ready) => readiness.push(ready));

    server.connections[0]!.drop();
    const hello = (await server.next('hello')).frame.hello!;
    expect(hello.credentials).toMatchObject({ deviceId: 'device-1' });
    expect(hello.registrations).toEqual([expect.objectContaining({ applicationId: 'app1', registrationId })]);
    const again = await server.next('register');
    expect(again.frame.register).toMatchObject({ applicationId: 'app1', registrationId });

    // A notification sent after the RegisterResult arrives after it: by then an unchanged id
    // would have been emitted, had the daemon emitted it.
    const received = pushes(client, 1);
    again.conn.send(notification('m1'));
    await received;
    expect(ids).toEqual([]);
    expect(readiness).toEqual([false, true]);

    // The server now considers the stored id stale: the reconnect yields a new one, emitted.
    server.registrations.set('app1', 'reg-rotated');
    const changed = once(client, 'registrationId');
    again.conn.drop();
    expect((await server.next('register')).frame.register!.registrationId).toBe(registrationId);
    const [newId] = await changed;
    expect(newId).not.toBe(registrationId);
    expect(daemon.registrationIdOf('app1')).toBe(newId);
  });

  it('hands a redelivered message to the app once but acknowledges every copy', async () => {
    const server = await fakeServer();
    const { client } = await registeredClient(server);
    const received = pushes(client, 2);
    server.connections[0]!.send(notification('m1'), notification('m1'), notification('m2'));

    expect((await received).map((p) => p.id)).toEqual(['m1', 'm2']);
    const acked = (await server.acked(3)).flat();
    expect(acked.filter((id) => id === 'm1')).toHaveLength(2);
    expect(acked).toContain('m2');
  });

  it('takes a Notifications frame (protocol version 3) as its notifications in order, each acknowledged by its id', async () => {
    const server = await fakeServer();
    const { client } = await registeredClient(server);
    const received = pushes(client, 3);
    const batch = [notification('n1'), notification('n2'), notification('n1'), notification('n3')].map((f) => f.notification!);
    server.connections[0]!.send({ notifications: { notifications: batch } });

    expect((await received).map((p) => p.id)).toEqual(['n1', 'n2', 'n3']);
    expect((await server.acked(4)).flat()).toEqual(['n1', 'n2', 'n1', 'n3']);
  });

  it('offers protocol versions 1 to 3 in Hello', async () => {
    const server = await fakeServer();
    await daemonFor(server).start();
    const hello = (await server.next('hello')).frame.hello!;
    expect([hello.minProtocolVersion, hello.protocolVersion]).toEqual([1, 3]);
  });

  it('batches acknowledgements by delay and by count', async () => {
    const server = await fakeServer();
    await registeredClient(server, 'app1', { ackDelayMs: 200, ackBatchSize: 100 });
    const conn = server.connections[0]!;

    conn.send(notification('a1'));
    conn.send(notification('a2'));
    conn.send(notification('a3'));
    expect(await server.acked(3)).toEqual([['a1', 'a2', 'a3']]);

    conn.send(...Array.from({ length: 150 }, (_, i) => notification(`b${i}`)));
    const batches = await server.acked(150);
    expect(batches.map((b) => b.length)).toEqual([100, 50]);
  });

  it('delivers to each client only its own application, holding pushes for an app without one', async () => {
    const server = await fakeServer();
    const { daemon, client } = await registeredClient(server, 'app1');
    const other = daemon.createClient({ applicationId: 'app2' });
    const forApp1 = pushes(client, 1);
    const forApp2 = pushes(other, 1);
    server.connections[0]!.send(notification('x1', 'app1'), notification('x2', 'app2'), notification('x3', 'app3'));

    expect((await forApp1).map((p) => p.id)).toEqual(['x1']);
    const [push] = await forApp2;
    expect(push).toEqual({
      id: 'x2',
      applicationId: 'app2',
      title: 'title x2',
      message: 'message x2',
      data: '{"k":1}',
      sentAt: new Date(1_700_000_000_000),
      expiresAt: expect.any(Date),
    });
    await server.acked(3);

    const late = daemon.createClient();
    late.setApplicationId('app3');
    expect((await pushes(late, 1)).map((p) => p.id)).toEqual(['x3']);
  });

  it('reconnects after GoAway with the delay the server asked for', async () => {
    const server = await fakeServer();
    const daemon = daemonFor(server);
    await daemon.start();
    const hello = await server.next('hello');
    await untilReady(daemon);

    const delay = once(daemon, 'reconnecting');
    hello.conn.send({ goAway: { reconnectDelayMs: 30, reason: 'draining' } });
    expect(await delay).toEqual([30]);
    await server.next('hello');
    expect(server.connections).toHaveLength(2);
  });

  it('on GoAway acknowledges what it received first, then moves to the next server of its list', async () => {
    const first = await fakeServer();
    const second = await fakeServer();
    const daemon = new PushDaemon({ server: [first.url, second.url], backoff: FAST, ackDelayMs: 60_000 });
    daemons.push(daemon);
    const client = daemon.createClient({ applicationId: 'app1' });
    await daemon.start();
    const hello = await first.next('hello');
    await untilReady(daemon);
    const got = pushes(client, 1);
    hello.conn.send(notification('g1'), { goAway: { reconnectDelayMs: 10, reason: 'draining' } });
    expect((await got).map((p) => p.id)).toEqual(['g1']);
    // The ack delay is a minute: only GoAway can have flushed it.
    expect((await first.next('ack')).frame.ack!.messageIds).toEqual(['g1']);
    await second.next('hello');
    await untilReady(daemon);
    expect(daemon.isReady).toBe(true);
  });

  it('rotates its credentials on request and presents the new ones on reconnect', async () => {
    const server = await fakeServer();
    const dir = await stateDir();
    const daemon = daemonFor(server, { stateDir: dir });
    await daemon.start();
    const hello = await server.next('hello');
    await untilReady(daemon);
    const deviceId = daemon.deviceId!;
    const changed = once(daemon, 'credentialsChanged');
    await daemon.rotateCredentials();
    expect(await changed).toEqual([deviceId]);
    const stored = JSON.parse(await readFile(join(dir, 'push-daemon.json'), 'utf8')) as { credentials: { deviceId: string; secret: string } };
    expect(stored.credentials).toEqual({ deviceId, secret: server.devices.get(deviceId) });
    expect(stored.credentials.secret).toMatch(/^rotated-/);
    hello.conn.drop();
    const again = await server.next('hello');
    expect(again.frame.hello!.credentials).toMatchObject({ deviceId, secret: stored.credentials.secret });
  });

  it('keeps notifications of an app that is not running across restarts, launches it, and hands them over unexpired', async () => {
    const server = await fakeServer();
    const dir = await stateDir();
    const launched: string[] = [];
    const first = daemonFor(server, { stateDir: dir, launchApp: (applicationId) => void launched.push(applicationId) });
    await first.start();
    const hello = await server.next('hello');
    await untilReady(first);
    const expired = notification('old', 'sleeper');
    expired.notification!.expiresAtMs = Date.now() + 300;
    hello.conn.send(notification('s1', 'sleeper'), expired, notification('s2', 'sleeper'));
    await server.acked(3);
    expect(launched).toEqual(['sleeper']);
    expect([...first.heldNotifications().get('sleeper')!].map((p) => p.id)).toEqual(['s1', 'old', 's2']);
    await first.stop();

    // The app starts later, after the device restarted and after one of them expired.
    await new Promise((resolve) => setTimeout(resolve, 350));
    const second = daemonFor(server, { stateDir: dir });
    await second.start();
    const consumed = once(second, 'consumed');
    const app = second.createClient();
    const got = pushes(app, 2);
    app.setApplicationId('sleeper');
    expect((await got).map((p) => p.id)).toEqual(['s1', 's2']);
    expect(await consumed).toEqual(['sleeper', ['s1', 's2']]);
    expect(second.heldNotifications().size).toBe(0);
  });

  it('backs off exponentially with full jitter and starts over after a Welcome', async () => {
    const server = await fakeServer();
    server.refuse = true;
    const randoms = [0.5, 0.25, 0.75, 0.999, 0.5, 0.1, 0.5];
    let call = 0;
    const daemon = daemonFor(server, { backoff: { baseMs: 8, capMs: 40 }, random: () => randoms[call++]! });
    const delays: number[] = [];
    const sixFailures = new Promise<void>((resolve) =>
      daemon.on('reconnecting', (delay) => {
        delays.push(delay);
        if (delays.length === 6) resolve();
      }),
    );
    await daemon.start();
    await sixFailures;
    // floor(random * min(cap, base * 2^attempt)): ceilings 8, 16, 32, 40, 40, 40.
    expect(delays).toEqual([4, 4, 24, 39, 20, 4]);

    server.refuse = false;
    const hello = await server.next('hello');
    await untilReady(daemon);
    const next = once(daemon, 'reconnecting');
    hello.conn.drop();
    expect(await next).toEqual([4]); // attempt 0 again: 0.5 * 8
  });

  it('pings every heartbeat interval and reconnects when a Pong does not come', async () => {
    const server = await fakeServer();
    server.heartbeatIntervalMs = 25;
    const daemon = daemonFor(server);
    await daemon.start();
    await server.next('ping');
    await server.next('ping');
    await server.next('ping');
    expect(server.connections).toHaveLength(1);

    server.answerPings = false;
    const [reason] = await once(daemon, 'disconnected');
    expect((reason as Error).message).toMatch(/no Pong/);
    await server.next('hello');
    await server.next('hello');
  });

  it('survives malformed bytes, oversized frames and unexpected frames by reconnecting', async () => {
    const server = await fakeServer();
    const daemon = daemonFor(server);
    const reasons: Error[] = [];
    daemon.on('disconnected', (reason) => reasons.push(reason));
    await daemon.start();

    const attacks = [
      Buffer.from([0x02, 0xff, 0xff]), // a two-byte body with an invalid wire type
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), // a length prefix far beyond the frame limit
      encodeFramePrefixed({ register: { requestId: 1, applicationId: 'x' } }), // a device-only frame
    ];
    for (const bytes of attacks) {
      await server.next('hello');
      await untilReady(daemon);
      server.connections.at(-1)!.writeRaw(bytes);
    }
    await server.next('hello');
    expect(server.connections).toHaveLength(4);
    expect(reasons.map((r) => r.name)).toEqual(['FrameError', 'FrameError', 'FrameError']);
    expect(reasons.map((r) => (r as Error & { code: number }).code)).toEqual([
      DeviceErrorCode.MALFORMED_FRAME,
      DeviceErrorCode.FRAME_TOO_LARGE,
      DeviceErrorCode.PROTOCOL_VIOLATION,
    ]);
  });

  it('drops credentials the server rejects and connects as a new device', async () => {
    const server = await fakeServer();
    const daemon = daemonFor(server);
    await daemon.start();
    const hello = await server.next('hello');
    await untilReady(daemon);

    server.devices.clear();
    hello.conn.drop();
    expect((await server.next('hello')).frame.hello!.credentials).toMatchObject({ deviceId: 'device-1' });
    expect((await server.next('hello')).frame.hello!.credentials).toBeNull();
    await untilReady(daemon);
    expect(daemon.deviceId).toBe('device-2');
  });

  it('keeps credentials, registrations and seen message ids for the next daemon on the same state dir', async () => {
    const server = await fakeServer();
    const dir = await stateDir();
    const first = await registeredClient(server, 'app1', { stateDir: dir });
    const received = pushes(first.client, 1);
    server.connections[0]!.send(notification('m1'));
    await received;
    await server.acked(1);
    await first.daemon.stop();

    const daemon = daemonFor(server, { stateDir: dir });
    await daemon.start();
    const hello = await server.next('hello');
    expect(hello.frame.hello!.credentials).toMatchObject({ deviceId: 'device-1', secret: 'secret-1' });
    expect(hello.frame.hello!.registrations).toEqual([expect.objectContaining({ applicationId: 'app1', registrationId: first.registrationId })]);
    await untilReady(daemon);

    const client = daemon.createClient({ applicationId: 'app1' });
    const fresh = pushes(client, 1);
    hello.conn.send(notification('m1'), notification('m2'));
    expect((await fresh).map((p) => p.id)).toEqual(['m2']);
    expect((await server.acked(2)).flat()).toEqual(['m1', 'm2']);

    expect(await client.registrate()).toBe(first.registrationId);
    expect((await server.next('register')).frame.register!.registrationId).toBe(first.registrationId);
  });

  it('starts as a new device when the state file is unreadable', async () => {
    const server = await fakeServer();
    const dir = await stateDir();
    await writeFile(join(dir, 'push-daemon.json'), '{not json');
    const daemon = daemonFor(server, { stateDir: dir });
    const warning = once(daemon, 'warning');
    await daemon.start();
    expect(String((await warning)[0])).toMatch(/device state .* is invalid/);
    expect((await server.next('hello')).frame.hello!.credentials).toBeNull();
  });
});

describe('PushClient', () => {
  it('emits registrationId on every successful registrate() and reports readiness', async () => {
    const server = await fakeServer();
    const daemon = daemonFor(server);
    const client = daemon.createClient();
    const ready = once(client, 'pushSystemReadinessChanged');
    client.setApplicationId('app1');
    await daemon.start();
    expect(await ready).toEqual([true]);
    expect(client.isPushSystemReady).toBe(true);

    const emitted: string[] = [];
    client.on('registrationId', (id) => emitted.push(id));
    const id = await client.registrate();
    expect(await client.registrate()).toBe(id);
    expect(emitted).toEqual([id, id]);
    expect(client.applicationId).toBe('app1');
    expect(client.error).toBeNull();
    expect(client.errorMessage).toBe('');
  });

  it('waits for the connection when registrate() is called offline', async () => {
    const server = await fakeServer();
    const daemon = daemonFor(server);
    const client = daemon.createClient({ applicationId: 'app1' });
    const pending = client.registrate();
    await daemon.start();
    expect(await pending).toBe('reg-app1-1');
  });

  it('reports a failed registration through registrationError, error and errorMessage', async () => {
    const server = await fakeServer();
    server.registerFailures.set('gone', { code: DeviceErrorCode.NOT_FOUND, message: 'unknown application' });
    const daemon = daemonFor(server);
    await daemon.start();
    const client = daemon.createClient({ applicationId: 'gone' });

    const failure = once(client, 'registrationError');
    expect(await client.registrate()).toBeNull();
    const [error] = (await failure) as [PushError];
    expect(error).toMatchObject({ code: 'not_found', message: 'unknown application' });
    expect(client.error).toBe('not_found');
    expect(client.errorMessage).toBe('unknown application');

    const unset = daemon.createClient();
    expect(await unset.registrate()).toBeNull();
    expect(unset.error).toBe('invalid_argument');
  });

  it('times out a request the server never answers', async () => {
    const server = await fakeServer();
    const daemon = daemonFor(server, { requestTimeoutMs: 50 });
    await daemon.start();
    await untilReady(daemon);
    const client = daemon.createClient({ applicationId: 'app1' });
    server.connections[0]!.socket.pause(); // the fake reads nothing more: no answer comes

    expect(await client.registrate()).toBeNull();
    expect(client.error).toBe('timeout');
    server.connections[0]!.socket.resume();
  });

  it('subscribes, unsubscribes and unregisters with the stored registrationId', async () => {
    const server = await fakeServer();
    const { daemon, client, registrationId } = await registeredClient(server);

    await client.subscribe(['news']);
    expect((await server.next('subscribe')).frame.subscribe).toMatchObject({ registrationId, topics: ['news'] });
    await client.unsubscribe(['news']);
    expect((await server.next('unsubscribe')).frame.unsubscribe).toMatchObject({ registrationId, topics: ['news'] });
    await client.unregister();
    expect((await server.next('unregister')).frame.unregister).toMatchObject({ applicationId: 'app1', registrationId });
    expect(daemon.registrationIdOf('app1')).toBeUndefined();
    await expect(client.subscribe(['news'])).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it('emits clientInactive once after the inactivity timeout, restarted by activity', () => {
    jest.useFakeTimers();
    try {
      const daemon = new PushDaemon({ server: 'tcp://127.0.0.1:9' });
      const client = new PushClient(daemon, { inactivityTimeoutMs: 1000 });
      const inactive = jest.fn();
      client.on('clientInactive', inactive);

      jest.advanceTimersByTime(900);
      client.setApplicationId('app1');
      jest.advanceTimersByTime(900);
      expect(inactive).not.toHaveBeenCalled();
      jest.advanceTimersByTime(100);
      expect(inactive).toHaveBeenCalledTimes(1);
      jest.advanceTimersByTime(10_000);
      expect(inactive).toHaveBeenCalledTimes(1);

      client.setApplicationId('app2');
      jest.advanceTimersByTime(1000);
      expect(inactive).toHaveBeenCalledTimes(2);
      client.close();
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('PushDaemon: local users (protocol version 2)', () => {
  function endpoint(applicationId: string, user: string): AppEndpoint & { got: Push[] } {
    const got: Push[] = [];
    return { applicationId, user, got, deliver: (list) => got.push(...list), registrationChanged: () => undefined, registrationFailed: () => undefined, readinessChanged: () => undefined };
  }

  it("registers the same app once per user and hands each push only to the user its registration belongs to", async () => {
    const server = await fakeServer();
    server.protocolVersion = 2;
    const daemon = daemonFor(server);
    const alice = endpoint('app1', '1001');
    const bob = endpoint('app1', '1002');
    daemon.attach(alice);
    daemon.attach(bob);
    await daemon.start();
    const aliceId = await daemon.register('app1', '1001');
    const bobId = await daemon.register('app1', '1002');
    expect(aliceId).not.toBe(bobId);
    expect(daemon.registrationIdOf('app1', '1001')).toBe(aliceId);
    expect(daemon.registrationIdOf('app1')).toBeUndefined();
    expect(daemon.users()).toEqual(new Set(['1001', '1002']));

    const frame = (id: string, registrationId: string) => ({ notification: { ...notification(id).notification, registrationId } });
    server.connections[0]!.send(frame('m-a', aliceId), frame('m-b', bobId), frame('m-x', 'reg-unknown'));
    await server.acked(3);
    await new Promise((resolve) => setImmediate(resolve));
    expect(alice.got.map((p) => p.id)).toEqual(['m-a']);
    expect(bob.got.map((p) => p.id)).toEqual(['m-b']);
    // A push the daemon cannot attribute stays with the device user, never with a local user.
    expect([...daemon.heldNotifications().keys()]).toEqual(['app1']);

    await daemon.forgetUser('1002');
    expect(daemon.registrationIdOf('app1', '1002')).toBeUndefined();
    expect(daemon.users()).toEqual(new Set(['1001']));
  });

  it('refuses a local user on a version 1 server, which would let one user retire the other', async () => {
    const server = await fakeServer();
    const daemon = daemonFor(server);
    await daemon.start();
    await expect(daemon.register('app1', '1001')).rejects.toMatchObject({ code: 'unavailable' });
    await expect(daemon.register('app1')).resolves.toMatch(/^reg-app1-/);
  });
});
