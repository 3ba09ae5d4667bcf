import { EventEmitter } from 'node:events';
import { chmod, chown, lstat, mkdir, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { AppEndpoint, Push, PushDaemon, PushError } from '@borealis/device-sdk';
import { encodeIpcFrame, IPC_VERSION, IpcFrameError, IpcFrameReader, MAX_DAEMON_FRAME_BYTES, parseIpcBody, type IpcError, type IpcFromDaemon, type IpcPush } from '@borealis/push-client';
import { peerCredentialsOf, type PeerCredentials } from './native';

export interface IpcServerOptions {
  socketPath: string;
  /** Permissions of the socket file. Default 0o666: every local user may connect (identity comes from the kernel). */
  socketMode?: number;
  /** Group of the socket file (with socketMode 0o660: only that group's members may connect). */
  socketGid?: number;
  daemon: PushDaemon;
  /** Who may use an applicationId; default everyone (each user in its own namespace). */
  mayUse?: (applicationId: string, uid: number) => boolean;
  /** clientInactive after this long without a notification or a request. Default 30 s. */
  inactivityTimeoutMs?: number;
  /** Connections one OS user may hold at once. Default 32. */
  maxConnectionsPerUser?: number;
  /** Connections in all. Default 1024. */
  maxConnections?: number;
  /** Requests of one connection waiting for an answer. Default 8. */
  maxRequestsInFlight?: number;
  /**
   * An app whose unread output is above this when more is to be sent is cut off (it does not
   * read). Default 16 MiB: room for a whole handover of held pushes at once.
   */
  maxUnsentBytes?: number;
  /** The kernel's word on a socket's peer; the native addon by default (a port for tests). */
  peerCredentials?: (socket: Socket) => PeerCredentials;
}

export interface IpcServerEvents {
  /** Something worth a log line: a refused connection, a bad frame, an app that connected. */
  log: [entry: Record<string, unknown>];
}

const APPLICATION_ID = /^[\x21-\x7e]{1,128}$/;
/** Room for the pushes of one frame, under MAX_DAEMON_FRAME_BYTES with the envelope. */
const PUSH_BATCH_BYTES = MAX_DAEMON_FRAME_BYTES - 1024;
const OPS = new Set(['setApplicationId', 'registrate', 'unregister']);

/**
 * Serves apps of every local user over a Unix socket: each connection is one app, whose OS user
 * the kernel names (SO_PEERCRED); a registration belongs to (device, that user, application), so an
 * app only ever sees its own user's registration and pushes, whatever it sends.
 */
export class DaemonIpcServer extends EventEmitter<IpcServerEvents> {
  private readonly server: Server;
  private readonly connections = new Set<AppConnection>();
  private readonly perUser = new Map<number, number>();
  private readonly peerCredentials: (socket: Socket) => PeerCredentials;

  constructor(readonly options: IpcServerOptions) {
    super();
    this.peerCredentials = options.peerCredentials ?? peerCredentialsOf;
    this.server = createServer((socket) => this.accept(socket));
    this.server.on('error', (err) => this.emit('log', { event: 'ipc_error', message: err.message }));
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  async listen(): Promise<void> {
    const path = this.options.socketPath;
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await removeStaleSocket(path);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(path, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    await chmod(path, this.options.socketMode ?? 0o666);
    if (this.options.socketGid !== undefined) await chown(path, process.getuid?.() ?? 0, this.options.socketGid);
  }

  async close(): Promise<void> {
    for (const connection of this.connections) connection.end();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    let peer: PeerCredentials;
    try {
      peer = this.peerCredentials(socket);
    } catch (err) {
      this.emit('log', { event: 'ipc_refused', reason: `no peer credentials: ${(err as Error).message}` });
      return void socket.destroy();
    }
    const perUser = this.perUser.get(peer.uid) ?? 0;
    const max = this.options.maxConnectionsPerUser ?? 32;
    const maxAll = this.options.maxConnections ?? 1024;
    if (perUser >= max || this.connections.size >= maxAll) {
      const why = perUser >= max ? `at most ${max} connections per user` : `at most ${maxAll} connections`;
      this.emit('log', { event: 'ipc_refused', uid: peer.uid, pid: peer.pid, reason: why });
      socket.on('error', () => undefined);
      return void socket.end(encodeIpcFrame({ event: 'error', error: { code: 'too_many_connections', message: why } }));
    }
    this.perUser.set(peer.uid, perUser + 1);
    const connection = new AppConnection(socket, peer, this.options, (entry) => this.emit('log', entry));
    this.connections.add(connection);
    socket.once('close', () => {
      this.connections.delete(connection);
      const left = (this.perUser.get(peer.uid) ?? 1) - 1;
      if (left <= 0) this.perUser.delete(peer.uid);
      else this.perUser.set(peer.uid, left);
    });
  }
}

/** One app's connection; it is the app's endpoint at the PushDaemon once it sets its applicationId. */
class AppConnection implements AppEndpoint {
  readonly user: string;
  private appId = '';
  private attached = false;
  private readonly reader = new IpcFrameReader();
  private inFlight = 0;
  /** After a frame too large the stream cannot be resynchronised: input is ignored until the close. */
  private broken = false;
  private inactivityTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly peer: PeerCredentials,
    private readonly options: IpcServerOptions,
    private readonly log: (entry: Record<string, unknown>) => void,
  ) {
    this.user = String(peer.uid);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.onClose());
    this.send({ event: 'hello', version: IPC_VERSION, ready: options.daemon.isReady, uid: peer.uid });
    this.touch();
  }

  get applicationId(): string {
    return this.appId;
  }

  // ---- AppEndpoint: what the PushDaemon tells this app ----

  deliver(pushes: Push[]): void {
    this.touch();
    // A long list (pushes held for an app that was not running) goes in as many frames as needed.
    let batch: IpcPush[] = [];
    let size = 0;
    for (const push of pushes.map(toIpcPush)) {
      const bytes = Buffer.byteLength(JSON.stringify(push)) + 1;
      if (batch.length > 0 && size + bytes > PUSH_BATCH_BYTES) {
        this.send({ event: 'notifications', pushList: batch });
        batch = [];
        size = 0;
      }
      batch.push(push);
      size += bytes;
    }
    if (batch.length > 0) this.send({ event: 'notifications', pushList: batch });
  }

  registrationChanged(registrationId: string): void {
    this.send({ event: 'registrationId', registrationId });
  }

  registrationFailed(error: PushError): void {
    this.send({ event: 'registrationError', error: { code: error.code, message: error.message } });
  }

  readinessChanged(ready: boolean): void {
    this.send({ event: 'readiness', ready });
  }

  /** Closes the connection; an app that does not close its side is cut after a short grace. */
  end(): void {
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 500).unref();
  }

  // ---- input ----

  private onData(chunk: Buffer): void {
    if (this.broken) return;
    let bodies: Buffer[];
    try {
      bodies = this.reader.push(chunk);
    } catch (err) {
      // The length cannot be skipped without reading what it announces: answer, then close.
      const error = err as IpcFrameError;
      this.log({ event: 'ipc_bad_frame', uid: this.peer.uid, pid: this.peer.pid, code: error.code, message: error.message });
      this.send({ event: 'error', error: { code: error.code, message: error.message } });
      this.broken = true;
      this.socket.end();
      return;
    }
    for (const body of bodies) this.onBody(body);
  }

  private onBody(body: Buffer): void {
    let message: Record<string, unknown>;
    try {
      message = parseIpcBody(body);
    } catch (err) {
      return this.badInput({ code: 'bad_frame', message: (err as Error).message });
    }
    const id = message['id'];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > 0x7fffffff) {
      return this.badInput({ code: 'invalid_argument', message: '"id" must be an integer from 1 to 2147483647' });
    }
    const op = message['op'];
    if (typeof op !== 'string' || !OPS.has(op)) {
      return this.reply(id, { code: 'invalid_argument', message: `"op" must be one of ${[...OPS].join(', ')}` });
    }
    const allowed = op === 'setApplicationId' ? ['id', 'op', 'applicationId'] : ['id', 'op'];
    // A field the contract does not have is refused, rather than silently ignored: in particular
    // the caller's user comes from the kernel and a "uid" in the message means a confused client.
    const unknown = Object.keys(message).find((key) => !allowed.includes(key));
    if (unknown !== undefined) return this.reply(id, { code: 'invalid_argument', message: `unknown field "${unknown.slice(0, 64)}" for ${op}` });
    this.touch();
    switch (op) {
      case 'setApplicationId':
        return this.setApplicationId(id, message['applicationId']);
      case 'registrate':
        return this.run(id, async () => ({ registrationId: await this.options.daemon.register(this.requireApplicationId(), this.user) }));
      case 'unregister':
        return this.run(id, async () => {
          await this.options.daemon.unregister(this.requireApplicationId(), this.user);
          return {};
        });
    }
  }

  private setApplicationId(id: number, applicationId: unknown): void {
    if (typeof applicationId !== 'string' || !APPLICATION_ID.test(applicationId)) {
      return this.reply(id, { code: 'invalid_argument', message: '"applicationId" must be 1 to 128 printable ASCII characters without spaces' });
    }
    if (this.options.mayUse && !this.options.mayUse(applicationId, this.peer.uid)) {
      this.log({ event: 'ipc_denied', uid: this.peer.uid, pid: this.peer.pid, applicationId });
      return this.reply(id, { code: 'permission_denied', message: `user ${this.peer.uid} may not use ${applicationId}` });
    }
    if (applicationId !== this.appId) {
      if (this.attached) this.options.daemon.detach(this);
      this.appId = applicationId;
      // Attaching hands over the pushes kept for this user's app on the next turn, after the reply.
      this.options.daemon.attach(this);
      this.attached = true;
      this.log({ event: 'ipc_app', uid: this.peer.uid, pid: this.peer.pid, applicationId });
    }
    this.reply(id, null);
  }

  private requireApplicationId(): string {
    if (!this.appId) throw new RequestError({ code: 'invalid_argument', message: 'setApplicationId first' });
    return this.appId;
  }

  /** Runs an asynchronous request within the in-flight bound. */
  private run(id: number, work: () => Promise<{ registrationId?: string }>): void {
    const max = this.options.maxRequestsInFlight ?? 8;
    if (this.inFlight >= max) return this.reply(id, { code: 'busy', message: `at most ${max} requests in flight per connection` });
    this.inFlight++;
    work().then(
      (result) => {
        this.inFlight--;
        this.touch();
        this.send({ reply: id, ok: true, ...result });
      },
      (err: unknown) => {
        this.inFlight--;
        const error = err instanceof RequestError ? err.error : { code: (err as PushError).code ?? 'internal', message: (err as Error).message };
        this.reply(id, error);
      },
    );
  }

  private reply(id: number, error: IpcError | null): void {
    this.send(error ? { reply: id, ok: false, error } : { reply: id, ok: true });
  }

  private badInput(error: IpcError): void {
    this.log({ event: 'ipc_bad_frame', uid: this.peer.uid, pid: this.peer.pid, ...error });
    this.send({ event: 'error', error });
  }

  private send(message: IpcFromDaemon): void {
    if (this.closed) return;
    // An app that does not read must not make the daemon buffer without end.
    if (this.socket.writableLength > (this.options.maxUnsentBytes ?? 16 << 20)) {
      this.log({ event: 'ipc_cut', uid: this.peer.uid, pid: this.peer.pid, reason: 'the app does not read' });
      this.closed = true;
      this.socket.destroy();
      return;
    }
    this.socket.write(encodeIpcFrame(message, MAX_DAEMON_FRAME_BYTES));
  }

  /** Activity restarts the idle countdown; clientInactive fires once per idle spell. */
  private touch(): void {
    if (this.closed) return;
    if (this.inactivityTimer) clearTimeout(this.inactivityTimer);
    this.inactivityTimer = setTimeout(() => {
      this.inactivityTimer = null;
      this.send({ event: 'clientInactive' });
    }, this.options.inactivityTimeoutMs ?? 30_000);
    this.inactivityTimer.unref();
  }

  private onClose(): void {
    this.closed = true;
    if (this.inactivityTimer) clearTimeout(this.inactivityTimer);
    if (this.attached) this.options.daemon.detach(this);
    this.attached = false;
  }
}

class RequestError extends Error {
  constructor(readonly error: IpcError) {
    super(error.message);
  }
}

function toIpcPush(push: Push): IpcPush {
  return { id: push.id, applicationId: push.applicationId, title: push.title, message: push.message, data: push.data, sentAtMs: push.sentAt.getTime(), expiresAtMs: push.expiresAt.getTime() };
}

/** A socket file left by a daemon that died is removed; one that a live daemon answers on is not. */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new Error(`another push daemon is listening on ${path}`);
  await unlink(path);
}
