import { EventEmitter } from 'node:events';
import { DeviceErrorCode, FrameError, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, type DeviceProtocol, type Frame, type FrameInit } from '@borealis/contracts';
import { backoffDelay } from '@borealis/util';
import { FileStateStore, HeldPushes, RecentIds, emptyDeviceState, type DeviceCredentials, type DeviceState } from './device-state';
import { openLink, parseServerUrl, type Link, type LinkOptions } from './link';
import { PushClient, type PushClientOptions } from './push-client';
import { PushError, pushErrorFromFrame, type Push } from './push';

export interface PushDaemonOptions {
  /**
   * The transport(s) to connect to: `tcp://host:port`, `tls://host:port`, `ws://host:port/device`
   * or `wss://host:port/device`. With several, each lost connection (and each GoAway) moves on to
   * the next one, so that a drained instance's devices land on another without a load balancer.
   */
  server: string | string[];
  /** TLS (tls://, wss://): extra trusted CAs (PEM), the server name to verify. */
  tls?: LinkOptions['tls'];
  /** Where credentials, registrations and seen message ids are kept; in memory only when absent. */
  stateDir?: string;
  /** Sent in Hello for the server's logs. */
  clientName?: string;
  /** Reconnect delays: full jitter over min(capMs, baseMs * 2^attempt). Default 1 s, 60 s. */
  backoff?: { baseMs: number; capMs: number };
  /** Longest wait before received notifications are acknowledged. Default 50 ms. */
  ackDelayMs?: number;
  /** Acknowledge at once when this many ids are waiting. Default 100. */
  ackBatchSize?: number;
  /** How many recent message ids are remembered to drop redeliveries. Default 10,000. */
  seenWindow?: number;
  /** Longest wait from connecting to the server's Welcome. Default 10 s. */
  connectTimeoutMs?: number;
  /** Longest wait for the answer to registrate/unregister/subscribe, offline time included. Default 30 s. */
  requestTimeoutMs?: number;
  /** Local source address (load tests spread connections over several loopback addresses). */
  localAddress?: string;
  /** Random source of the backoff jitter, in [0, 1). */
  random?: () => number;
  /** Notifications kept for an app that is not running, per app (oldest dropped beyond). Default 1000. */
  maxHeldPerApp?: number;
  /**
   * Registration secrets by applicationId, for the applications whose operator requires one
   * (docs/security.md): sent in every Register of that application.
   */
  registrationSecrets?: Readonly<Record<string, string>>;
  /**
   * Called when notifications arrive for an app that is not running (no client has its
   * applicationId), as the Aurora daemon starts such an app in background mode. The daemon keeps
   * them (persisted, until they expire) and hands them over when the app sets its applicationId.
   */
  launchApp?: (applicationId: string, user: string) => void | Promise<void>;
}

/**
 * The key of one app of one local user: a registration belongs to (device, user, application).
 * The user is '' on a single-user device (and for devices that speak protocol version 1).
 */
export function appKey(applicationId: string, user = ''): string {
  // NUL can be neither in an OS user key nor in an applicationId, so the key splits back unambiguously.
  return user === '' ? applicationId : `${user}\u0000${applicationId}`;
}

export function splitAppKey(key: string): { applicationId: string; user: string } {
  const at = key.indexOf('\u0000');
  return at < 0 ? { applicationId: key, user: '' } : { user: key.slice(0, at), applicationId: key.slice(at + 1) };
}

export interface PushDaemonEvents {
  /** Ready means connected and welcomed by the server. */
  readinessChanged: [ready: boolean];
  welcomed: [deviceId: string];
  disconnected: [reason: Error];
  reconnecting: [delayMs: number];
  /** A problem the daemon survived: unreadable state file, failed state write, a throwing listener. */
  warning: [error: Error];
  /** Notifications were handed to the app (at once, or later from the held ones when it started). */
  consumed: [applicationId: string, messageIds: string[]];
  /** The server issued new credentials (first contact, renewal or rotation); they are persisted. */
  credentialsChanged: [deviceId: string];
}

/** How the daemon reaches one app's client (PushClient creates one for itself). */
export interface AppEndpoint {
  /** '' while the app has not set one. */
  readonly applicationId: string;
  /** The local user the app runs as ('' on a single-user device): only that user's pushes reach it. */
  readonly user?: string;
  deliver(pushes: Push[]): void;
  /** A reconnect re-registration returned a different registrationId. */
  registrationChanged(registrationId: string): void;
  /** A reconnect re-registration failed. */
  registrationFailed(error: PushError): void;
  readinessChanged(ready: boolean): void;
}

type ResultKind = 'registerResult' | 'requestResult' | 'credentialsRotated';
type Welcome = InstanceType<typeof DeviceProtocol.Welcome>;
type RegisterResult = InstanceType<typeof DeviceProtocol.RegisterResult>;
type Notification = InstanceType<typeof DeviceProtocol.Notification>;
type Notifications = InstanceType<typeof DeviceProtocol.Notifications>;
type ErrorFrame = InstanceType<typeof DeviceProtocol.Error>;
type RequestResult = InstanceType<typeof DeviceProtocol.RequestResult>;
type CredentialsRotated = InstanceType<typeof DeviceProtocol.CredentialsRotated>;
type Ping = InstanceType<typeof DeviceProtocol.Ping>;
type Pong = InstanceType<typeof DeviceProtocol.Pong>;
type GoAway = InstanceType<typeof DeviceProtocol.GoAway>;

interface PendingRequest {
  readonly expects: ResultKind;
  /** Built at send time, so that a re-sent Register carries the registrationId current then. */
  readonly build: (requestId: number, version: number) => FrameInit;
  sent: boolean;
  readonly timer: NodeJS.Timeout;
  resolve(frame: Frame): void;
  reject(error: PushError): void;
}

interface Connection {
  link: Link;
  readonly closed: Promise<void>;
  welcomed: boolean;
  /** The protocol version the server chose in Welcome. */
  version: number;
  /** The Welcome timeout, then the heartbeat interval. */
  timer: NodeJS.Timeout | null;
  awaitingPong: number | null;
  nonce: number;
  ackIds: string[];
  ackTimer: NodeJS.Timeout | null;
}

/** Frames the server may send before Welcome. */
const BEFORE_WELCOME = new Set<Frame['kind']>(['welcome', 'error', 'goAway', 'ping']);
/** How long a closing connection may take to flush its last frames before it is destroyed. */
const CLOSE_GRACE_MS = 1000;

/**
 * The device's push daemon: one connection to the transport that carries every app on the
 * device. It reconnects with exponential backoff and full jitter, pings every heartbeat interval,
 * keeps credentials, registrations and recently seen message ids (to drop redeliveries), and
 * acknowledges notifications in batches. Apps talk to it through `PushClient`.
 */
export class PushDaemon extends EventEmitter<PushDaemonEvents> {
  private readonly servers: URL[];
  private serverIndex = 0;
  private readonly store: FileStateStore | null;
  private readonly backoff: { baseMs: number; capMs: number };
  private readonly ackDelayMs: number;
  private readonly ackBatchSize: number;
  private readonly connectTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly random: () => number;
  private readonly seenWindow: number;

  private credentials: DeviceCredentials | null = null;
  private readonly registrations = new Map<string, string>();
  private seen: RecentIds;
  private loaded = false;

  private stopped = true;
  private conn: Connection | null = null;
  private ready = false;
  private welcomedDeviceId: string | null = null;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;

  private lastRequestId = 0;
  private readonly requests = new Map<number, PendingRequest>();
  /** Apps that called registrate(): re-registered on every reconnect. */
  private readonly registratedApps = new Set<string>();
  private readonly registering = new Map<string, Promise<string>>();
  private readonly endpoints = new Set<AppEndpoint>();
  private held: HeldPushes;

  private saving: Promise<void> | null = null;
  private dispatching: Promise<void> = Promise.resolve();
  private saveRequested = false;

  constructor(private readonly options: PushDaemonOptions) {
    super();
    const servers = typeof options.server === 'string' ? [options.server] : options.server;
    if (servers.length === 0) throw new Error('at least one server is required');
    this.servers = servers.map(parseServerUrl);
    this.store = options.stateDir ? new FileStateStore(options.stateDir) : null;
    this.backoff = options.backoff ?? { baseMs: 1000, capMs: 60_000 };
    this.ackDelayMs = options.ackDelayMs ?? 50;
    this.ackBatchSize = options.ackBatchSize ?? 100;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.random = options.random ?? Math.random;
    this.seenWindow = options.seenWindow ?? 10_000;
    this.seen = new RecentIds(this.seenWindow);
    this.held = new HeldPushes(options.maxHeldPerApp ?? 1000);
  }

  /** Connected and welcomed by the server (Aurora: the push system is ready). */
  get isReady(): boolean {
    return this.ready;
  }

  /** The device id from the last Welcome, or from stored credentials before the first one. */
  get deviceId(): string | null {
    return this.welcomedDeviceId ?? this.credentials?.deviceId ?? null;
  }

  /** The registrationId stored for an app, if any. */
  registrationIdOf(applicationId: string, user = ''): string | undefined {
    return this.registrations.get(appKey(applicationId, user));
  }

  createClient(options?: PushClientOptions): PushClient {
    return new PushClient(this, options);
  }

  /** Loads the stored state (first start only) and connects; resolves once connecting has begun. */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    if (!this.loaded) {
      this.loaded = true;
      this.applyState(await this.loadState());
    }
    if (!this.stopped && !this.conn && !this.reconnectTimer) this.connect();
  }

  /**
   * Sends the acknowledgements still waiting, closes the connection, cancels pending requests
   * and waits for the state to be written. A stopped daemon can be started again.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    for (const req of this.requests.values()) {
      clearTimeout(req.timer);
      req.reject(new PushError('cancelled', 'the push daemon was stopped'));
    }
    this.requests.clear();
    const conn = this.conn;
    if (conn) {
      await this.flushAcks(conn);
      await this.close(conn, new Error('push daemon stopped'));
    }
    await this.persist();
  }

  /** Asks the server for a fresh secret (same device id) and stores it. */
  async rotateCredentials(): Promise<void> {
    const frame = await this.request('credentialsRotated', (requestId) => ({ rotateCredentials: { requestId } }));
    const issued = (frame.credentialsRotated as CredentialsRotated).credentials;
    if (!issued?.deviceId || !issued.secret) throw new PushError('protocol', 'CredentialsRotated without credentials');
    this.credentials = { deviceId: issued.deviceId, secret: issued.secret };
    await this.persist();
    this.publish('credentialsChanged', issued.deviceId);
  }

  /** Notifications kept for apps that are not running, by appKey(applicationId, user) (unexpired only). */
  heldNotifications(): Map<string, Push[]> {
    return this.held.live(Date.now());
  }

  /** Used by PushClient: routes notifications and readiness of `endpoint.applicationId` to it. */
  attach(endpoint: AppEndpoint): void {
    this.endpoints.add(endpoint);
    const key = appKey(endpoint.applicationId, endpoint.user);
    if (!this.held.has(key)) return;
    // Next turn, so that an app that sets its applicationId first and its listeners second
    // still sees the notifications that arrived before it ran.
    setImmediate(() => {
      if (!this.endpoints.has(endpoint) || appKey(endpoint.applicationId, endpoint.user) !== key) return;
      const live = this.held.take(key, Date.now());
      void this.persist();
      if (live.length > 0) this.handOver(key, [endpoint], live);
    });
  }

  detach(endpoint: AppEndpoint): void {
    this.endpoints.delete(endpoint);
  }

  /**
   * Aurora registrate(): sends the stored registrationId (or none) and resolves with the one the
   * server confirms or issues. The app is re-registered on every reconnect from then on. Waits
   * for the connection when offline or not started yet, up to the request timeout.
   */
  register(applicationId: string, user = ''): Promise<string> {
    const key = appKey(applicationId, user);
    this.registratedApps.add(key);
    // One Register per app at a time: two in flight with a stale id would each get a new one.
    let registering = this.registering.get(key);
    if (!registering) {
      registering = this.request('registerResult', (requestId, version) => {
        // A version 1 server keys registrations by (device, application) only: one user's
        // registration would retire another's, so users other than '' need version 2.
        if (user !== '' && version < 2) throw new PushError('unavailable', 'the push server does not support several users on a device (protocol version 2)');
        const secrets = this.options.registrationSecrets;
        const registrationSecret = secrets && Object.hasOwn(secrets, applicationId) ? secrets[applicationId] : undefined;
        return {
          register: {
            requestId,
            applicationId,
            registrationId: this.registrations.get(key) ?? '',
            ...(version >= 2 ? { deviceUser: user } : {}),
            ...(registrationSecret ? { registrationSecret } : {}),
          },
        };
      })
        .then((frame) => this.storeRegistration(key, frame.registerResult as RegisterResult))
        .finally(() => this.registering.delete(key));
      this.registering.set(key, registering);
    }
    return registering;
  }

  /** The local users that hold registrations or kept notifications ('' excluded). */
  users(): Set<string> {
    const users = new Set<string>();
    for (const key of [...this.registrations.keys(), ...this.held.live(Date.now()).keys()]) {
      const { user } = splitAppKey(key);
      if (user !== '') users.add(user);
    }
    return users;
  }

  /**
   * A local user was deleted: unregisters each of its registrations on the server (best effort:
   * one that fails stays for the next call) and drops its kept notifications.
   */
  async forgetUser(user: string): Promise<void> {
    if (user === '') throw new Error('forgetUser: the device user cannot be forgotten');
    for (const key of this.held.live(Date.now()).keys()) if (splitAppKey(key).user === user) this.held.take(key, Date.now());
    for (const key of [...this.registrations.keys(), ...this.registratedApps]) {
      const { applicationId, user: owner } = splitAppKey(key);
      if (owner === user) await this.unregister(applicationId, user);
    }
    await this.persist();
  }

  /** Drops the app's registration on the server and on the device. */
  async unregister(applicationId: string, user = ''): Promise<void> {
    const key = appKey(applicationId, user);
    const registrationId = this.registrations.get(key);
    if (registrationId !== undefined) {
      await this.request('requestResult', (requestId) => ({
        unregister: { requestId, applicationId, registrationId },
      }));
      this.registrations.delete(key);
    }
    this.registratedApps.delete(key);
    await this.persist();
  }

  /** Subscribes the app's registration to topics (Borealis extension: topic delivery). */
  async subscribe(applicationId: string, topics: string[], user = ''): Promise<void> {
    const registrationId = this.requireRegistration(appKey(applicationId, user));
    await this.request('requestResult', (requestId) => ({ subscribe: { requestId, registrationId, topics } }));
  }

  async unsubscribe(applicationId: string, topics: string[], user = ''): Promise<void> {
    const registrationId = this.requireRegistration(appKey(applicationId, user));
    await this.request('requestResult', (requestId) => ({ unsubscribe: { requestId, registrationId, topics } }));
  }

  // ---- connection ----

  private connect(): void {
    this.reconnectTimer = null;
    const url = this.servers[this.serverIndex]!;
    let settle!: () => void;
    const conn: Connection = {
      link: null as unknown as Link,
      closed: new Promise<void>((resolve) => (settle = resolve)),
      welcomed: false,
      version: PROTOCOL_VERSION,
      timer: null,
      awaitingPong: null,
      nonce: 0,
      ackIds: [],
      ackTimer: null,
    };
    this.conn = conn;
    conn.timer = setTimeout(() => this.drop(conn, new Error(`no Welcome within ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs);
    conn.link = openLink(
      url,
      { localAddress: this.options.localAddress, tls: this.options.tls },
      {
        open: () =>
          this.send(conn, {
            hello: {
              protocolVersion: PROTOCOL_VERSION,
              minProtocolVersion: MIN_PROTOCOL_VERSION,
              credentials: this.credentials,
              registrations: [...this.registrations].map(([key, registrationId]) => {
                const { applicationId, user } = splitAppKey(key);
                return { applicationId, registrationId, deviceUser: user };
              }),
              clientName: this.options.clientName ?? 'borealis-device-sdk',
            },
          }),
        frames: (frames) => this.onFrames(conn, frames),
        closed: (reason) => {
          settle();
          this.drop(conn, reason);
        },
      },
    );
  }

  /** Ends a connection after a loss and schedules the next one, to the next server of the list. */
  private drop(conn: Connection, reason: Error, reconnectDelayMs?: number): void {
    if (conn !== this.conn) return;
    void this.close(conn, reason);
    this.serverIndex = (this.serverIndex + 1) % this.servers.length;
    if (!this.stopped) this.scheduleReconnect(reconnectDelayMs);
  }

  private close(conn: Connection, reason: Error): Promise<void> {
    this.conn = null;
    if (conn.timer) clearTimeout(conn.timer);
    if (conn.ackTimer) clearTimeout(conn.ackTimer);
    // Ids not yet acknowledged are dropped: the server redelivers those messages, and the
    // seen-window makes the device acknowledge them again without showing them twice.
    conn.ackIds = [];
    for (const req of this.requests.values()) req.sent = false;
    conn.link.end();
    setTimeout(() => conn.link.destroy(), CLOSE_GRACE_MS).unref();
    this.setReady(false);
    this.publish('disconnected', reason);
    return conn.closed;
  }

  private scheduleReconnect(delayMs?: number): void {
    const delay = delayMs ?? backoffDelay(this.attempt++, this.backoff.baseMs, this.backoff.capMs, this.random);
    this.publish('reconnecting', delay);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private send(conn: Connection, frame: FrameInit): void {
    if (conn === this.conn) conn.link.send(frame);
  }

  private onFrames(conn: Connection, frames: Frame[]): void {
    if (conn !== this.conn) return;
    const arrived = new Map<string, Push[]>();
    try {
      for (const frame of frames) {
        this.onFrame(conn, frame, arrived);
        if (conn !== this.conn) break;
      }
    } catch (err) {
      // Bad input from the server costs the connection, never the process. (The protocol has no
      // device-to-server Error frame: the device just closes.)
      this.drop(conn, err instanceof FrameError ? err : new FrameError(DeviceErrorCode.INTERNAL, (err as Error).message));
    } finally {
      if (arrived.size > 0) this.dispatchStored(arrived);
    }
  }

  /**
   * With a state directory, the seen ids are stored before an app gets the pushes: a daemon killed
   * right after handing a push over drops the server's redelivery instead of showing it twice.
   * Batches stay in arrival order.
   */
  private dispatchStored(arrived: Map<string, Push[]>): void {
    if (!this.store) return this.dispatch(arrived);
    this.dispatching = this.dispatching
      .then(() => this.persist())
      .then(() => this.dispatch(arrived))
      .catch((err: unknown) => this.publish('warning', err as Error));
  }

  private onFrame(conn: Connection, frame: Frame, arrived: Map<string, Push[]>): void {
    const kind = frame.kind;
    if (!conn.welcomed && !BEFORE_WELCOME.has(kind)) {
      throw new FrameError(DeviceErrorCode.PROTOCOL_VIOLATION, `${kind} frame before Welcome`);
    }
    switch (kind) {
      case 'welcome':
        if (conn.welcomed) throw new FrameError(DeviceErrorCode.PROTOCOL_VIOLATION, 'second Welcome');
        return this.onWelcome(conn, frame.welcome as Welcome);
      case 'registerResult':
        return this.settle((frame.registerResult as RegisterResult).requestId, frame);
      case 'requestResult':
        return this.settle((frame.requestResult as RequestResult).requestId, frame);
      case 'credentialsRotated':
        return this.settle((frame.credentialsRotated as CredentialsRotated).requestId, frame);
      case 'notification':
        return this.onNotification(conn, frame.notification as Notification, arrived);
      case 'notifications':
        // Version 3: several in one frame, each acknowledged by its own id, in the frame's order.
        for (const n of (frame.notifications as Notifications).notifications ?? []) this.onNotification(conn, n as Notification, arrived);
        return;
      case 'ping':
        return this.send(conn, { pong: { nonce: (frame.ping as Ping).nonce } });
      case 'pong':
        if ((frame.pong as Pong).nonce === conn.awaitingPong) conn.awaitingPong = null;
        return;
      case 'goAway': {
        // Acknowledge what arrived first (the server still counts Acks after GoAway), then leave.
        const { reconnectDelayMs, reason } = frame.goAway as GoAway;
        const why = new Error(`server going away${reason ? `: ${reason}` : ''}`);
        this.setReady(false);
        void this.flushAcks(conn).finally(() => this.drop(conn, why, reconnectDelayMs));
        return;
      }
      case 'error':
        return this.onError(conn, frame.error as ErrorFrame);
      case 'hello':
      case 'register':
      case 'unregister':
      case 'subscribe':
      case 'unsubscribe':
      case 'ack':
      case 'rotateCredentials':
      case undefined:
        throw new FrameError(DeviceErrorCode.PROTOCOL_VIOLATION, `unexpected ${kind ?? 'empty'} frame from the server`);
      default:
        return kind satisfies never;
    }
  }

  private onWelcome(conn: Connection, welcome: Welcome): void {
    conn.welcomed = true;
    conn.version = welcome.protocolVersion || 1;
    if (conn.timer) clearTimeout(conn.timer);
    conn.timer = null;
    this.attempt = 0;
    const issued = welcome.credentials;
    if (issued?.deviceId && issued.secret) {
      this.credentials = { deviceId: issued.deviceId, secret: issued.secret };
      void this.persist();
      this.publish('credentialsChanged', issued.deviceId);
    }
    this.welcomedDeviceId = welcome.deviceId || this.credentials?.deviceId || null;
    if (welcome.heartbeatIntervalMs > 0) conn.timer = setInterval(() => this.heartbeat(conn), welcome.heartbeatIntervalMs);
    for (const [requestId, req] of this.requests) if (!req.sent) this.sendRequest(conn, requestId, req);
    this.reregister();
    this.setReady(true);
    this.publish('welcomed', this.welcomedDeviceId ?? '');
  }

  private heartbeat(conn: Connection): void {
    if (conn.awaitingPong !== null) return this.drop(conn, new Error('no Pong within the heartbeat interval'));
    conn.nonce = (conn.nonce + 1) >>> 0;
    conn.awaitingPong = conn.nonce;
    this.send(conn, { ping: { nonce: conn.nonce } });
  }

  private onError(conn: Connection, error: ErrorFrame): void {
    const failure = pushErrorFromFrame(error.code, error.message);
    if (error.requestId !== 0) return this.settle(error.requestId, null, failure);
    // Credentials the server cannot verify never will: start over as a new device.
    if (error.code === DeviceErrorCode.UNAUTHENTICATED && this.credentials) {
      this.credentials = null;
      void this.persist();
    }
    this.drop(conn, failure);
  }

  // ---- notifications and acks ----

  private onNotification(conn: Connection, n: Notification, arrived: Map<string, Push[]>): void {
    if (!n.messageId || !n.applicationId) {
      throw new FrameError(DeviceErrorCode.PROTOCOL_VIOLATION, 'notification without a message id or application id');
    }
    conn.ackIds.push(n.messageId);
    if (conn.ackIds.length >= this.ackBatchSize) void this.flushAcks(conn);
    else conn.ackTimer ??= setTimeout(() => void this.flushAcks(conn), this.ackDelayMs);
    if (!this.seen.add(n.messageId)) return;
    const push: Push = {
      id: n.messageId,
      applicationId: n.applicationId,
      title: n.title,
      message: n.message,
      data: n.data,
      sentAt: new Date(n.sentAtMs),
      expiresAt: new Date(n.expiresAtMs),
    };
    // The registrationId says whose push it is: the same app of two users has two registrations.
    const key = this.registrationOwner(n.registrationId, n.applicationId);
    const list = arrived.get(key);
    if (list) list.push(push);
    else arrived.set(key, [push]);
  }

  /** Acknowledges only after the seen ids are stored, so an acknowledged message is never shown twice. */
  private async flushAcks(conn: Connection): Promise<void> {
    if (conn.ackTimer) clearTimeout(conn.ackTimer);
    conn.ackTimer = null;
    const messageIds = conn.ackIds;
    if (messageIds.length === 0) return;
    conn.ackIds = [];
    await this.persist();
    this.send(conn, { ack: { messageIds } });
  }

  /**
   * Hands each app its pushes, or keeps them for an app that is not running (persisted with the
   * seen ids, before the Ack goes out) and asks the host to launch it.
   */
  private dispatch(arrived: Map<string, Push[]>): void {
    for (const [key, pushes] of arrived) {
      const targets = [...this.endpoints].filter((endpoint) => appKey(endpoint.applicationId, endpoint.user) === key);
      if (targets.length > 0) {
        this.handOver(key, targets, pushes);
        continue;
      }
      const { applicationId, user } = splitAppKey(key);
      const dropped = this.held.add(key, pushes, Date.now());
      if (dropped > 0) this.publish('warning', new Error(`dropped ${dropped} notifications for ${applicationId}${user ? ` of user ${user}` : ''}: no client took them`));
      void this.persist();
      const launch = this.options.launchApp;
      if (launch) {
        try {
          void Promise.resolve(launch(applicationId, user)).catch((err: unknown) => this.publish('warning', err as Error));
        } catch (err) {
          this.publish('warning', err as Error);
        }
      }
    }
  }

  private handOver(key: string, endpoints: AppEndpoint[], pushes: Push[]): void {
    for (const endpoint of endpoints) this.guard(() => endpoint.deliver(pushes));
    this.publish(
      'consumed',
      splitAppKey(key).applicationId,
      pushes.map((push) => push.id),
    );
  }

  /** The app key a registrationId was issued to; unknown ids belong to the device user (''). */
  private registrationOwner(registrationId: string, applicationId: string): string {
    if (registrationId) {
      for (const [key, id] of this.registrations) if (id === registrationId) return key;
    }
    // Never another user's: a push this daemon cannot attribute stays with the device user.
    return appKey(applicationId);
  }

  // ---- requests ----

  private request(expects: ResultKind, build: (requestId: number, version: number) => FrameInit): Promise<Frame> {
    return new Promise<Frame>((resolve, reject) => {
      this.lastRequestId = this.lastRequestId >= 0xffffffff ? 1 : this.lastRequestId + 1;
      const requestId = this.lastRequestId;
      const timer = setTimeout(() => {
        this.requests.delete(requestId);
        reject(new PushError('timeout', `no answer within ${this.requestTimeoutMs} ms`));
      }, this.requestTimeoutMs);
      const req: PendingRequest = { expects, build, sent: false, timer, resolve, reject };
      this.requests.set(requestId, req);
      if (this.conn?.welcomed) this.sendRequest(this.conn, requestId, req);
    });
  }

  private sendRequest(conn: Connection, requestId: number, req: PendingRequest): void {
    let frame: FrameInit;
    try {
      frame = req.build(requestId, conn.version);
    } catch (err) {
      return this.settle(requestId, null, err instanceof PushError ? err : new PushError('internal', (err as Error).message));
    }
    req.sent = true;
    this.send(conn, frame);
  }

  private settle(requestId: number, frame: Frame | null, failure?: PushError): void {
    const req = this.requests.get(requestId);
    if (!req) return; // answered after its timeout
    this.requests.delete(requestId);
    clearTimeout(req.timer);
    if (failure) req.reject(failure);
    else if (frame?.kind !== req.expects) req.reject(new PushError('protocol', `expected ${req.expects}, got ${frame?.kind}`));
    else req.resolve(frame);
  }

  private async storeRegistration(key: string, result: RegisterResult): Promise<string> {
    if (!result.registrationId) throw new PushError('protocol', 'RegisterResult without a registrationId');
    this.registrations.set(key, result.registrationId);
    await this.persist();
    return result.registrationId;
  }

  /** Confirms every registrated app's pair on a new connection (a stale one gets a new id). */
  private reregister(): void {
    for (const key of this.registratedApps) {
      // A Register still pending from before is re-sent with the other requests.
      if (this.registering.has(key)) continue;
      const before = this.registrations.get(key);
      const { applicationId, user } = splitAppKey(key);
      this.register(applicationId, user).then(
        (registrationId) => {
          if (registrationId !== before) this.toApp(key, (endpoint) => endpoint.registrationChanged(registrationId));
        },
        (err: PushError) => {
          if (err.code !== 'cancelled') this.toApp(key, (endpoint) => endpoint.registrationFailed(err));
        },
      );
    }
  }

  private requireRegistration(key: string): string {
    const registrationId = this.registrations.get(key);
    if (registrationId === undefined) throw new PushError('invalid_argument', `${splitAppKey(key).applicationId} is not registered: call registrate() first`);
    return registrationId;
  }

  // ---- state ----

  private async loadState(): Promise<DeviceState> {
    if (!this.store) return emptyDeviceState();
    try {
      return await this.store.load();
    } catch (err) {
      // A device with an unreadable state starts over rather than staying offline for good.
      this.publish('warning', err as Error);
      return emptyDeviceState();
    }
  }

  private applyState(state: DeviceState): void {
    this.credentials = state.credentials;
    for (const [applicationId, registrationId] of Object.entries(state.registrations)) this.registrations.set(applicationId, registrationId);
    this.seen = new RecentIds(this.seenWindow, state.seenMessageIds);
    this.held = new HeldPushes(this.options.maxHeldPerApp ?? 1000, state.held, Date.now());
  }

  /** Writes the state; writes are serialised and coalesced. Never rejects (failures are warnings). */
  private persist(): Promise<void> {
    const store = this.store;
    if (!store) return Promise.resolve();
    this.saveRequested = true;
    this.saving ??= (async () => {
      while (this.saveRequested) {
        this.saveRequested = false;
        const state: DeviceState = {
          credentials: this.credentials,
          registrations: Object.fromEntries(this.registrations),
          seenMessageIds: this.seen.toArray(),
          held: this.held.toJSON(Date.now()),
        };
        await store.save(state).catch((err: Error) => this.publish('warning', err));
      }
      this.saving = null;
    })();
    return this.saving;
  }

  // ---- events ----

  private setReady(ready: boolean): void {
    if (ready === this.ready) return;
    this.ready = ready;
    for (const endpoint of this.endpoints) this.guard(() => endpoint.readinessChanged(ready));
    this.publish('readinessChanged', ready);
  }

  private toApp(key: string, call: (endpoint: AppEndpoint) => void): void {
    for (const endpoint of this.endpoints) if (appKey(endpoint.applicationId, endpoint.user) === key) this.guard(() => call(endpoint));
  }

  /** A throwing app listener must not break the connection that serves every other app. */
  private guard(call: () => void): void {
    try {
      call();
    } catch (err) {
      this.publish('warning', err as Error);
    }
  }

  private publish<K extends keyof PushDaemonEvents>(event: K, ...args: PushDaemonEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: PushDaemonEvents[K]) => boolean)(event, ...args);
    } catch {
      // The daemon's own listeners are the host's code; their failure must not break the connection.
    }
  }
}
