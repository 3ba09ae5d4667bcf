import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PushDaemon } from '@borealis/device-sdk';
import { encodeIpcFrame, IpcFrameReader, MAX_DAEMON_FRAME_BYTES, MAX_IPC_FRAME_BYTES, parseIpcBody, PushClient, type Push } from '@borealis/push-client';
import { DaemonIpcServer, type IpcServerOptions } from './ipc-server';

/** A raw connection to the daemon's socket: frames in, parsed messages out. */
class RawApp {
  readonly messages: Record<string, unknown>[] = [];
  closed = false;
  private readonly reader = new IpcFrameReader(MAX_DAEMON_FRAME_BYTES);
  private readonly waiters = new Set<() => void>();
  readonly socket: Socket;

  constructor(path: string) {
    this.socket = connect(path);
    this.socket.on('data', (chunk: Buffer) => {
      for (const body of this.reader.push(chunk)) this.messages.push(parseIpcBody(body));
      for (const wake of this.waiters) wake();
    });
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => {
      this.closed = true;
      for (const wake of this.waiters) wake();
    });
  }

  send(message: object): void {
    this.socket.write(encodeIpcFrame(message));
  }

  next(predicate: (m: Record<string, unknown>) => boolean, timeoutMs = 3000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.messages.find(predicate);
        if (found) {
          this.waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no matching message; got ${JSON.stringify(this.messages)}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  reply(id: number): Promise<Record<string, unknown>> {
    return this.next((m) => m['reply'] === id);
  }

  untilClosed(): Promise<void> {
    return this.closed ? Promise.resolve() : once(this.socket, 'close').then(() => undefined);
  }
}

describe('DaemonIpcServer (a real Unix socket and the kernel peer credentials)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'borealis-ipc-'));
  const uid = process.getuid!();
  let socketPath: string;
  let daemon: PushDaemon;
  let server: DaemonIpcServer;
  let n = 0;
  const apps: RawApp[] = [];
  const clients: PushClient[] = [];

  async function start(options: Partial<IpcServerOptions> = {}, held: Record<string, unknown> = {}, message = 'm'): Promise<void> {
    const stateDir = join(dir, `state-${++n}`);
    const push = (id: string, applicationId: string) => ({ id, applicationId, title: `t ${id}`, message, data: '', sentAtMs: Date.now(), expiresAtMs: Date.now() + 3_600_000 });
    const state = { version: 1, credentials: null, registrations: {}, seenMessageIds: [], held: Object.fromEntries(Object.entries(held).map(([key, ids]) => [key, (ids as string[]).map((id) => push(id, key.split('\u0000').at(-1)!))])) };
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(join(stateDir, 'push-daemon.json'), JSON.stringify(state));
    // No push server answers here: these tests are about the local side.
    daemon = new PushDaemon({ server: 'tcp://127.0.0.1:1', stateDir, backoff: { baseMs: 60_000, capMs: 60_000 } });
    await daemon.start();
    socketPath = join(dir, `run-${n}`, 'daemon.sock');
    server = new DaemonIpcServer({ socketPath, daemon, ...options });
    await server.listen();
  }

  function app(): RawApp {
    const raw = new RawApp(socketPath);
    apps.push(raw);
    return raw;
  }

  afterEach(async () => {
    for (const raw of apps.splice(0)) raw.socket.destroy();
    for (const client of clients.splice(0)) client.close();
    await server.close();
    await daemon.stop();
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("greets each app with the kernel's uid and refuses a client's word for its user", async () => {
    await start();
    const raw = app();
    expect(await raw.next((m) => m['event'] === 'hello')).toEqual({ event: 'hello', version: 1, ready: false, uid });
    raw.send({ id: 1, op: 'setApplicationId', applicationId: 'app.one', uid: 0 });
    expect(await raw.reply(1)).toEqual({ reply: 1, ok: false, error: { code: 'invalid_argument', message: 'unknown field "uid" for setApplicationId' } });
    raw.send({ id: 2, op: 'setApplicationId', applicationId: 'app.one' });
    expect(await raw.reply(2)).toEqual({ reply: 2, ok: true });
  });

  it('answers bad input precisely and keeps serving the connection and others', async () => {
    await start();
    const raw = app();
    const body = Buffer.from('{"id":1,');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length);
    raw.socket.write(Buffer.concat([header, body]));
    expect(await raw.next((m) => m['event'] === 'error')).toMatchObject({ error: { code: 'bad_frame', message: expect.stringContaining('not JSON') } });
    raw.send([1, 2]);
    raw.send({ op: 'registrate' });
    raw.send({ id: 3, op: 'fly' });
    raw.send({ id: 4, op: 'setApplicationId', applicationId: 'has space' });
    raw.send({ id: 5, op: 'registrate' });
    expect(await raw.next((m) => m['event'] === 'error' && (m['error'] as { code: string }).code === 'invalid_argument')).toMatchObject({ error: { message: expect.stringContaining('"id"') } });
    expect(await raw.reply(3)).toMatchObject({ ok: false, error: { code: 'invalid_argument', message: expect.stringContaining('"op"') } });
    expect(await raw.reply(4)).toMatchObject({ ok: false, error: { code: 'invalid_argument', message: expect.stringContaining('printable') } });
    expect(await raw.reply(5)).toMatchObject({ ok: false, error: { code: 'invalid_argument', message: 'setApplicationId first' } });
    expect(raw.messages.filter((m) => m['event'] === 'error').map((m) => (m['error'] as { message: string }).message)).toContain('a frame must hold one JSON object');
    raw.send({ id: 6, op: 'setApplicationId', applicationId: 'app.one' });
    expect(await raw.reply(6)).toMatchObject({ ok: true });

    // A frame above the limit: an error, then the daemon closes that connection (it cannot skip it).
    const big = app();
    await big.next((m) => m['event'] === 'hello');
    const tooLarge = Buffer.alloc(4);
    tooLarge.writeUInt32BE(MAX_IPC_FRAME_BYTES + 1);
    big.socket.write(tooLarge);
    expect(await big.next((m) => m['event'] === 'error')).toMatchObject({ error: { code: 'frame_too_large' } });
    await big.untilClosed();
    raw.send({ id: 7, op: 'setApplicationId', applicationId: 'app.two' });
    expect(await raw.reply(7)).toMatchObject({ ok: true });
  });

  it('bounds the connections of one user and the requests in flight of one connection', async () => {
    await start({ maxConnectionsPerUser: 2, maxRequestsInFlight: 1, maxUnsentBytes: 64 * 1024 });
    const logs: Record<string, unknown>[] = [];
    server.on('log', (entry) => logs.push(entry));
    const first = app();
    const second = app();
    await Promise.all([first.next((m) => m['event'] === 'hello'), second.next((m) => m['event'] === 'hello')]);
    const third = app();
    expect(await third.next((m) => m['event'] === 'error')).toEqual({ event: 'error', error: { code: 'too_many_connections', message: 'at most 2 connections per user' } });
    await third.untilClosed();
    expect(server.connectionCount).toBe(2);

    // registrate waits for a server that never answers: the second one is over the bound.
    first.send({ id: 1, op: 'setApplicationId', applicationId: 'app.one' });
    first.send({ id: 2, op: 'registrate' });
    first.send({ id: 3, op: 'registrate' });
    expect(await first.reply(3)).toEqual({ reply: 3, ok: false, error: { code: 'busy', message: 'at most 1 requests in flight per connection' } });

    // An app that sends but does not read: its answers pile up until the daemon cuts it off.
    second.socket.pause();
    const junk = encodeIpcFrame([1]);
    second.socket.write(Buffer.concat(Array.from({ length: 20_000 }, () => junk)));
    while (server.connectionCount > 1) await new Promise((resolve) => setTimeout(resolve, 10));
    second.socket.resume();
    await second.untilClosed();
    expect(logs).toContainEqual(expect.objectContaining({ event: 'ipc_cut', uid, reason: 'the app does not read' }));
    const again = app();
    expect(await again.next((m) => m['event'] === 'hello')).toMatchObject({ uid });
  });

  it('hands over a long list of held pushes in frames of at most MAX_DAEMON_FRAME_BYTES', async () => {
    // Control characters take six bytes each in JSON: the worst case for a push's size.
    const ids = Array.from({ length: 300 }, (_, i) => `m${i}`);
    await start({}, { [`${uid}\u0000app.big`]: ids }, '\u0001'.repeat(2048));
    const raw = app();
    raw.send({ id: 1, op: 'setApplicationId', applicationId: 'app.big' });
    // In order: once the last one is there, all are.
    await raw.next((m) => m['event'] === 'notifications' && (m['pushList'] as { id: string }[]).some((p) => p.id === ids.at(-1)), 10_000);
    const got = raw.messages.filter((m) => m['event'] === 'notifications').flatMap((m) => (m['pushList'] as { id: string }[]).map((p) => p.id));
    expect(got).toEqual(ids);
    expect(raw.messages.filter((m) => m['event'] === 'notifications').length).toBeGreaterThan(1);
  });

  it("hands over the pushes held for this user's app only, and refuses an app the user may not use", async () => {
    await start({ mayUse: (applicationId) => applicationId !== 'app.forbidden', inactivityTimeoutMs: 300 }, {
      [`${uid}\u0000app.one`]: ['m1', 'm2'],
      [`${uid + 1}\u0000app.one`]: ['other-user'],
      'app.one': ['device-user'],
    });
    expect(daemon.heldNotifications().size).toBe(3);
    const client = new PushClient({ socketPath, applicationId: 'app.one' });
    clients.push(client);
    const got = await new Promise<Push[]>((resolve) => client.once('notifications', resolve));
    expect(got.map((p) => p.id)).toEqual(['m1', 'm2']);
    expect(got[0]).toMatchObject({ applicationId: 'app.one', title: 't m1' });
    // Nothing of another user, nor of the device user: they stay held.
    expect([...daemon.heldNotifications().keys()].sort()).toEqual([`${uid + 1}\u0000app.one`, 'app.one']);
    await new Promise<void>((resolve) => client.once('clientInactive', resolve));

    const denied = new PushClient({ socketPath, applicationId: 'app.forbidden' });
    clients.push(denied);
    const error = await new Promise<{ code: string; message: string }>((resolve) => denied.once('registrationError', resolve));
    expect(error).toMatchObject({ code: 'permission_denied', message: `user ${uid} may not use app.forbidden` });
    expect(denied.error).toBe('permission_denied');
  });
});
