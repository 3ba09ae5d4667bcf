import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import {
  DEFAULT_SOCKET_PATH,
  encodeIpcFrame,
  IpcFrameReader,
  MAX_DAEMON_FRAME_BYTES,
  parseIpcBody,
  SOCKET_ENV,
  type IpcError,
  type IpcPush,
  type IpcRequest,
} from './ipc';

/** One notification as the app sees it (Aurora `Push`, plus the message id and times). */
export interface Push {
  id: string;
  applicationId: string;
  title: string;
  message: string;
  /** The app server's data object as JSON text ('' when none). */
  data: string;
  sentAt: Date;
  expiresAt: Date;
}

/**
 * Error codes: `invalid_argument`, `permission_denied` (this OS user may not use the application),
 * `not_found`, `unauthenticated`, `unavailable`, `timeout`, `cancelled`, `protocol`, `internal`,
 * `busy` (too many requests in flight), `daemon_unavailable` (no daemon answered in time).
 */
export class PushError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'PushError';
  }
}

/** The signals of Aurora's PushClient, as Node events. */
export interface PushClientEvents {
  pushSystemReadinessChanged: [ready: boolean];
  registrationId: [registrationId: string];
  registrationError: [error: PushError];
  notifications: [pushList: Push[]];
  clientInactive: [];
  /** The connection to the daemon was lost or refused (the client reconnects by itself). */
  disconnected: [reason: Error];
}

export interface PushClientOptions {
  /** The daemon's socket; default $BOREALIS_PUSH_SOCKET, else /run/borealis-push/daemon.sock. */
  socketPath?: string;
  applicationId?: string;
  /** Longest wait for a request's answer, time without a daemon included. Default 30 s. */
  requestTimeoutMs?: number;
  /** Reconnect delays to the daemon double from this up to 5 s. Default 200 ms. */
  reconnectDelayMs?: number;
}

interface Pending {
  /** Re-sent after a reconnect; null for setApplicationId, which is sent afresh on every connect. */
  readonly resend: IpcRequest | null;
  readonly timer: NodeJS.Timeout;
  resolve(result: { registrationId?: string }): void;
  reject(error: PushError): void;
}

const MAX_RECONNECT_DELAY_MS = 5000;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * An app's client of the device's push daemon, with the API of Aurora's PushClient: set the
 * applicationId, call registrate(), send the registrationId to the app server, and receive
 * `notifications`. It keeps a connection to the daemon and reconnects when the daemon restarts.
 */
export class PushClient extends EventEmitter<PushClientEvents> {
  private readonly socketPath: string;
  private readonly requestTimeoutMs: number;
  private readonly baseDelayMs: number;
  private socket: Socket | null = null;
  private connected = false;
  private reader = new IpcFrameReader(MAX_DAEMON_FRAME_BYTES);
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private appId = '';
  private ready = false;
  private lastError: PushError | null = null;
  private lastId = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(options: PushClientOptions = {}) {
    super();
    this.socketPath = options.socketPath ?? process.env[SOCKET_ENV] ?? DEFAULT_SOCKET_PATH;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.baseDelayMs = options.reconnectDelayMs ?? 200;
    this.appId = options.applicationId ?? '';
    this.connect();
  }

  get applicationId(): string {
    return this.appId;
  }

  /**
   * Only notifications for this applicationId, of this OS user, reach the client; the daemon then
   * hands over those it kept while the app was not running. A refusal (an application this OS
   * user may not use) is reported through `registrationError`, `error` and `errorMessage`.
   */
  setApplicationId(applicationId: string): void {
    if (applicationId === this.appId) return;
    this.appId = applicationId;
    if (this.connected) this.sendApplicationId();
  }

  get isPushSystemReady(): boolean {
    return this.ready;
  }

  /** The code of the last failure, null after a successful registrate(). */
  get error(): string | null {
    return this.lastError?.code ?? null;
  }

  get errorMessage(): string {
    return this.lastError?.message ?? '';
  }

  /**
   * Aurora registrate(): emits `registrationId` on success (every time, also when unchanged) or
   * `registrationError`. Never rejects; resolves with the id, or null on failure.
   */
  async registrate(): Promise<string | null> {
    if (!this.appId) return this.fail(new PushError('invalid_argument', 'setApplicationId() before registrate()'));
    try {
      const { registrationId } = await this.request({ op: 'registrate' });
      if (!registrationId) throw new PushError('protocol', 'the daemon answered registrate without a registrationId');
      this.lastError = null;
      this.emit('registrationId', registrationId);
      return registrationId;
    } catch (err) {
      return this.fail(err instanceof PushError ? err : new PushError('internal', (err as Error).message));
    }
  }

  /** Removes this app's registration (Borealis extension). Rejects with a PushError. */
  async unregister(): Promise<void> {
    if (!this.appId) throw new PushError('invalid_argument', 'setApplicationId() first');
    await this.request({ op: 'unregister' });
  }

  /** Closes the connection; pending requests fail with `cancelled`. */
  close(): void {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    for (const id of [...this.pending.keys()]) this.settle(id, null, new PushError('cancelled', 'the client was closed'));
    this.socket?.destroy();
    this.socket = null;
  }

  // ---- connection ----

  private connect(): void {
    this.reconnectTimer = null;
    this.reader = new IpcFrameReader(MAX_DAEMON_FRAME_BYTES);
    const socket = connect(this.socketPath);
    this.socket = socket;
    socket.on('connect', () => {
      this.connected = true;
      this.attempt = 0;
      // The daemon knows nothing of this client after a restart: tell it again, then re-send
      // what was waiting (in this order on the stream, so registrate follows setApplicationId).
      if (this.appId) this.sendApplicationId();
      for (const p of this.pending.values()) if (p.resend) this.write(p.resend);
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.onClose(socket));
  }

  private onClose(socket: Socket): void {
    if (socket !== this.socket) return;
    this.socket = null;
    this.connected = false;
    // A setApplicationId the daemon never answered is superseded by the one sent on reconnect.
    for (const [id, p] of this.pending) {
      if (p.resend) continue;
      clearTimeout(p.timer);
      this.pending.delete(id);
    }
    this.setReady(false);
    if (this.closed) return;
    this.emit('disconnected', new Error(`no connection to the push daemon at ${this.socketPath}`));
    const delay = Math.min(MAX_RECONNECT_DELAY_MS, this.baseDelayMs * 2 ** this.attempt++);
    // Not unref'd: an app that waits for pushes stays up while the daemon restarts; close() ends it.
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private onData(chunk: Buffer): void {
    let bodies: Buffer[];
    try {
      bodies = this.reader.push(chunk);
    } catch {
      return void this.socket?.destroy();
    }
    for (const body of bodies) {
      let message: Record<string, unknown>;
      try {
        message = parseIpcBody(body);
      } catch {
        continue; // a daemon bug must not take the app down; the request times out instead
      }
      this.onMessage(message);
    }
  }

  private onMessage(m: Record<string, unknown>): void {
    if (typeof m['reply'] === 'number') {
      const error = m['error'] as IpcError | undefined;
      if (m['ok'] === true) this.settle(m['reply'], { registrationId: typeof m['registrationId'] === 'string' ? m['registrationId'] : undefined });
      else this.settle(m['reply'], null, new PushError(error?.code ?? 'internal', error?.message ?? 'request failed'));
      return;
    }
    switch (m['event']) {
      case 'hello':
      case 'readiness':
        return this.setReady(m['ready'] === true);
      case 'notifications':
        return void this.emit('notifications', ((m['pushList'] as IpcPush[] | undefined) ?? []).map(toPush));
      case 'registrationId':
        this.lastError = null;
        return void this.emit('registrationId', String(m['registrationId']));
      case 'registrationError': {
        const error = m['error'] as IpcError | undefined;
        return void this.fail(new PushError(error?.code ?? 'internal', error?.message ?? ''));
      }
      case 'clientInactive':
        return void this.emit('clientInactive');
      default:
        return; // newer daemons may add events
    }
  }

  // ---- requests ----

  private sendApplicationId(): void {
    const applicationId = this.appId;
    this.request({ op: 'setApplicationId', applicationId }, false).catch((err: PushError) => {
      if (this.appId === applicationId) this.fail(err);
    });
  }

  private request(op: DistributiveOmit<IpcRequest, 'id'>, resend = true): Promise<{ registrationId?: string }> {
    if (this.closed) return Promise.reject(new PushError('cancelled', 'the client was closed'));
    this.lastId = this.lastId >= 0x7fffffff ? 1 : this.lastId + 1;
    const request = { ...op, id: this.lastId } as IpcRequest;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => this.settle(request.id, null, new PushError(this.connected ? 'timeout' : 'daemon_unavailable', `no answer from the push daemon within ${this.requestTimeoutMs} ms`)),
        this.requestTimeoutMs,
      );
      this.pending.set(request.id, { resend: resend ? request : null, timer, resolve, reject });
      if (this.connected) this.write(request);
    });
  }

  private write(request: IpcRequest): void {
    this.socket?.write(encodeIpcFrame(request));
  }

  private settle(id: number, result: { registrationId?: string } | null, error?: PushError): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (error) p.reject(error);
    else p.resolve(result ?? {});
  }

  private setReady(ready: boolean): void {
    if (ready === this.ready) return;
    this.ready = ready;
    this.emit('pushSystemReadinessChanged', ready);
  }

  private fail(error: PushError): null {
    this.lastError = error;
    this.emit('registrationError', error);
    return null;
  }
}

function toPush(p: IpcPush): Push {
  return { id: p.id, applicationId: p.applicationId, title: p.title, message: p.message, data: p.data, sentAt: new Date(p.sentAtMs), expiresAt: new Date(p.expiresAtMs) };
}
