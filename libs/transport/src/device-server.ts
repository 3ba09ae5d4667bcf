import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { Inject, Injectable, Logger, Optional, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { WebSocketServer, type WebSocket } from 'ws';
import { MAX_FRAME_BYTES, Topics, encodeFrame, encodeFramePrefixed, type DeliveryReceiptV1, type DeliveryV1, type DeviceEventV1, type RegistrationReplyV1 } from '@borealis/contracts';
import { PresenceStore, type PresenceRefresh } from '@borealis/keyvalue';
import { BusClient } from '@borealis/messaging';
import { Metrics, Readiness } from '@borealis/platform';
import { backoffDelay, Clock, randomToken, sleep } from '@borealis/util';
import type { IncomingMessage } from 'node:http';
import { OpenSources, SourceShares, readPeer, sourceOf } from './admission';
import { CredentialAuthority } from './credentials';
import { NO_WAKE_SLOT, StreamConnection, WebSocketConnection, type ConnectionHost, type DeliverOutcome, type DeviceConnection, type WireKind } from './device-connection';
import { DeviceSession, type SessionContext, type SessionEffect } from './device-session';
import { GroupDeliveries } from './group-deliveries';
import { SentReceipts } from './sent-receipts';
import { CounterExport } from './stats-export';
import { TimerWheel } from './timer-wheel';
import { TRANSPORT_SETTINGS, type TransportSettings } from './transport-options';
import { AdmissionBucket, TransportStats, type TransportStatsSnapshot } from './transport-stats';
import { FixedDelayTimer } from './write-queue';

/** The path of the WebSocket endpoint. */
export const WEBSOCKET_PATH = '/device';
/** Backoff of a receipt whose publish failed: short, since the broker is usually back within seconds. */
const RECEIPT_RETRY_BASE_MS = 200;
const RECEIPT_RETRY_CAP_MS = 2000;
/** Slots of the timer wheel: with 1 s slots a horizon of about 17 minutes, beyond any connection deadline. */
const WHEEL_SLOTS = 1024;
/**
 * A backpressured connection's queue is pumped again this soon when nothing else wakes it (a
 * write's completion usually does first): the first queued push follows bytes written without a
 * completion callback, since the hot path allocates none.
 */
const PUMP_RETRY_MS = 10;

export interface DeviceAddresses {
  tcp: { host: string; port: number };
  tls: { host: string; port: number } | null;
  webSocket: { host: string; port: number; secure: boolean } | null;
}

/**
 * The device server: accepts connections over TCP, TLS and WebSocket, gives each a DeviceSession,
 * routes deliveries and registration replies to the connection that holds a device, and performs
 * the sessions' effects (presence, device events, registration requests, receipts). One timer
 * wheel drives every connection's idle timeout, request timeouts and presence refresh. Admission
 * control sends connections beyond the accept rate away with a spread reconnect delay; draining
 * does the same for every held device.
 */
@Injectable()
export class DeviceServer implements ConnectionHost, OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly logger = new Logger('DeviceServer');
  readonly stats = new TransportStats();
  /** `sent` receipts of written deliveries, held for the devices' Acks. */
  readonly sentReceipts: SentReceipts;
  /** What the sessions remember of group pushes their devices have not acknowledged (shared, bounded). */
  private readonly groups = new GroupDeliveries();
  readonly maxUnsentBytes: number;
  readonly closeGraceMs: number;
  readonly writeHighWaterBytes: number;
  readonly coalesceMs: number;
  /** Pumps of connection write queues: at the end of a coalescing window, and retries of backpressured ones. */
  private readonly coalescePumps: FixedDelayTimer<DeviceConnection> | null;
  private readonly retryPumps: FixedDelayTimer<DeviceConnection>;
  private readonly tcp: Server;
  private readonly tls: Server | null = null;
  private readonly webSocketHttp: HttpServer | null = null;
  /**
   * Every open connection is in exactly one registry: `devices` (the live, authenticated
   * connection of every device held by this instance) or `unrouted` (before Hello, or replaced by
   * a newer connection of its device). One entry per connection, not one in each.
   */
  private readonly devices = new Map<string, DeviceConnection>();
  private readonly unrouted = new Set<DeviceConnection>();
  /**
   * WebSocket sockets not yet upgraded, with when they were accepted and whether admission let them
   * in: they count against the connection cap, and one not upgraded by the Hello deadline is cut
   * (Node's own header timeout is a minute, checked every 30 s). Keyed by the peer's address and
   * port: over wss the upgrade request comes on the TLS socket, not on the TCP socket accepted.
   */
  private readonly upgrading = new Map<string, { socket: Socket; acceptedAtMs: number; admitted: boolean }>();
  /** Resolves the drain's wait once no connection is left open. */
  private allClosed: (() => void) | null = null;
  /** Effects of one device run in order, across its connections: a late disconnect never overtakes a reconnect. */
  private readonly chains = new Map<string, Promise<void>>();
  /** Receipts of one device, in order; apart from `chains`, since a receipt is retried through Kafka outages. */
  private readonly receiptChains = new Map<string, Promise<void>>();
  private readonly sessionContext: SessionContext;
  private readonly wheel: TimerWheel<DeviceConnection>;
  private readonly admission: AdmissionBucket;
  /** Each source's share of the accept bucket, taken before it. */
  private readonly sourceShares: SourceShares;
  /** The source string each open connection's session keeps, one per source. */
  private readonly openSources = new OpenSources();
  /** Each source's budgets of enrollments and Registers, across its connections. */
  private readonly enrollShares: SourceShares;
  private readonly registerShares: SourceShares;
  private wheelTimer: NodeJS.Timeout | null = null;
  private draining = false;
  private stopping: Promise<void> | null = null;

  constructor(
    @Inject(TRANSPORT_SETTINGS) private readonly settings: TransportSettings,
    credentials: CredentialAuthority,
    private readonly bus: BusClient,
    private readonly presence: PresenceStore,
    private readonly clock: Clock,
    @Optional() readiness?: Readiness,
    @Optional() metrics?: Metrics,
  ) {
    this.maxUnsentBytes = settings.maxUnsentBytes;
    this.closeGraceMs = settings.drainGraceMs;
    this.writeHighWaterBytes = settings.writeHighWaterBytes;
    this.coalesceMs = settings.coalesceMs;
    const now = () => this.clock.now();
    this.coalescePumps = settings.coalesceMs > 0 ? new FixedDelayTimer(settings.coalesceMs, now, (connection) => connection.pump()) : null;
    this.retryPumps = new FixedDelayTimer(PUMP_RETRY_MS, now, (connection) => connection.retryPump());
    this.enrollShares = new SourceShares(settings.enrollPerSource.perSecond, settings.enrollPerSource.burst);
    this.registerShares = new SourceShares(settings.registerPerSource.perSecond, settings.registerPerSource.burst);
    const sourceLimits = {
      enroll: (source: string, nowMs: number) => this.enrollShares.tryTake(source, nowMs) || (this.stats.enrollmentsOverSourceLimit++, false),
      register: (source: string, nowMs: number) => this.registerShares.tryTake(source, nowMs) || (this.stats.registersOverSourceLimit++, false),
    };
    this.sessionContext = { settings, epochMs: clock.now(), credentials, sourceLimits, groups: this.groups, newCorrelationId: () => randomToken(16) };
    this.wheel = new TimerWheel(settings.sweepIntervalMs, WHEEL_SLOTS, clock.now());
    this.admission = new AdmissionBucket(settings.acceptRatePerSecond, settings.acceptBurst, clock.now());
    this.sourceShares = new SourceShares(settings.acceptPerSource.perSecond, settings.acceptPerSource.burst);
    this.sentReceipts = new SentReceipts(settings.instanceId, settings.sentReceiptHoldMs, clock, (records, causedBy) =>
      this.bus.publishBatch(Topics.deliveryReceipts, records, { causedBy }).catch((err: unknown) => {
        this.logger.warn({ msg: 'sent receipts not published (the deliveries stay open)', receipts: records.length, error: err instanceof Error ? err.message : String(err) });
      }),
    );
    this.tcp = createServer({ noDelay: true }, (socket) => {
      const { source } = peerOf(socket);
      if (this.admit(source)) this.adopt(new StreamConnection(socket, this.newSession(source), this));
      else this.sendAway(socket, 'tcp');
    });
    const { tls, webSocket } = settings;
    if (tls) {
      const server = createTlsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, (socket: TLSSocket) => {
        socket.setNoDelay(true);
        this.adopt(new StreamConnection(socket, this.newSession(peerOf(socket).source), this));
      });
      // Admission before the handshake: refusing after it would spend the CPU a storm lacks.
      server.prependListener('connection', (socket: Socket) => {
        if (!this.admit(peerOf(socket).source)) socket.destroy();
      });
      server.on('tlsClientError', (err) => this.logger.debug({ msg: 'TLS handshake failed', error: err.message }));
      this.tls = server;
    }
    if (webSocket) {
      const http = webSocket.secure && tls ? createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }) : createHttpServer();
      // Twice the frame limit, so that a frame just over it is answered with FRAME_TOO_LARGE rather than cut.
      const wss = new WebSocketServer({ server: http, path: WEBSOCKET_PATH, maxPayload: 2 * MAX_FRAME_BYTES, perMessageDeflate: false, clientTracking: false });
      // Admission when the TCP connection arrives, as for TCP and TLS: an upgrade that never
      // completes has taken its place all the same.
      http.on('connection', (socket: Socket) => {
        const { key: peer, source } = peerOf(socket);
        this.upgrading.set(peer, { socket, acceptedAtMs: this.clock.now(), admitted: this.admit(source) });
        socket.once('close', () => {
          if (this.upgrading.get(peer)?.socket === socket) this.upgrading.delete(peer);
        });
      });
      wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
        // Behind TLS, request.socket wraps the socket the connection listener saw: the same peer.
        const { key: peer, source } = peerOf(request.socket);
        const upgraded = this.upgrading.get(peer);
        this.upgrading.delete(peer);
        if (upgraded?.admitted) this.adopt(new WebSocketConnection(socket, this.newSession(source), this));
        else this.sendAway(socket, 'ws');
      });
      wss.on('error', (err) => this.logger.error({ msg: 'websocket server error', error: err.message }));
      this.webSocketHttp = http;
    }
    readiness?.add({ name: 'device-server', ready: () => this.isListening() });
    if (metrics) {
      const exported = new CounterExport(metrics);
      metrics.registerCollector(() => {
        for (const [protocol, open] of Object.entries(this.stats.connectionsByWire)) metrics.deviceConnections.set({ protocol }, open);
        const snapshot = this.statsSnapshot();
        metrics.devicesHeld.set(snapshot.devicesHeld);
        metrics.sourcesConnected.set(snapshot.sourcesConnected);
        metrics.transportUnackedGroupMessages.set(snapshot.unackedGroupMessages);
        metrics.transportUnackedGroupBytes.set(snapshot.unackedGroupBytes);
        exported.update(snapshot);
      });
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    const { host, tls, webSocket } = this.settings;
    await listen(this.tcp, host, this.settings.port);
    if (this.tls && tls) await listen(this.tls, host, tls.port);
    if (this.webSocketHttp && webSocket) await listen(this.webSocketHttp, host, webSocket.port);
    for (const server of [this.tcp, this.tls, this.webSocketHttp]) server?.on('error', (err) => this.logger.error({ msg: 'device server error', error: err.message }));
    this.wheelTimer = setInterval(() => this.advanceWheel(), this.settings.sweepIntervalMs);
    this.wheelTimer.unref();
    this.logger.log({ msg: 'device server listening', instanceId: this.settings.instanceId, ...this.addresses() });
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  /** Listening and not draining: readiness. */
  isListening(): boolean {
    return this.tcp.listening && !this.draining;
  }

  /** The plain TCP address. */
  address(): { host: string; port: number } {
    return addressOf(this.tcp);
  }

  addresses(): DeviceAddresses {
    return {
      tcp: this.address(),
      tls: this.tls?.listening ? addressOf(this.tls) : null,
      webSocket: this.webSocketHttp?.listening ? { ...addressOf(this.webSocketHttp), secure: this.settings.webSocket?.secure ?? false } : null,
    };
  }

  /** Devices connected here with a completed Hello. */
  heldDevices(): number {
    return this.devices.size;
  }

  statsSnapshot(): TransportStatsSnapshot {
    const groups = this.groups.size;
    return this.stats.snapshot({
      connectionsOpen: this.openConnections(),
      devicesHeld: this.devices.size,
      sourcesConnected: this.openSources.size,
      unackedGroupMessages: groups.messages,
      unackedGroupBytes: groups.bytes,
      unackedGroupEvicted: groups.evicted,
    });
  }

  /**
   * Writes the Notification to the device's connection, or queues it there (its `sent` receipt then
   * follows when it is written); `not_held` when this instance does not hold the device.
   */
  deliver(delivery: DeliveryV1): DeliverOutcome {
    const outcome = this.devices.get(delivery.deviceId)?.deliver(delivery) ?? 'not_held';
    if (outcome === 'not_held') this.stats.deliveriesNotHeld++;
    return outcome;
  }

  /** Cancelled deliveries still waiting in the device's write queue are not written. */
  cancelQueued(deviceId: string, messageIds: readonly string[]): void {
    const removed = this.devices.get(deviceId)?.cancelQueued(messageIds) ?? 0;
    this.stats.queuedCancelled += removed;
  }

  schedulePump(connection: DeviceConnection, when: 'coalesced' | 'retry'): void {
    if (when === 'retry') this.retryPumps.add(connection);
    else if (this.coalescePumps) this.coalescePumps.add(connection);
    else connection.pump();
  }

  written(connection: DeviceConnection, messageIds: string[]): void {
    const deviceId = connection.session.deviceId;
    if (deviceId === null) return;
    void this.sentReceipts.hold(
      this.clock.now(),
      messageIds.map((messageId) => ({ status: 'sent' as const, deviceId, messageId })),
    );
  }

  handleReply(reply: RegistrationReplyV1): void {
    const connection = this.devices.get(reply.deviceId);
    connection?.apply(connection.session.onReply(reply));
  }

  /** Stops accepting, sends every device GoAway with a spread delay, releases presence, closes. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.drain();
    return this.stopping;
  }

  now(): number {
    return this.clock.now();
  }

  wake(connection: DeviceConnection, atMs: number): void {
    if (this.wheel.slotOf(atMs) < connection.wakeSlot) connection.wakeSlot = this.wheel.schedule(connection, atMs);
  }

  perform(connection: DeviceConnection, effect: Exclude<SessionEffect, { type: 'close' | 'linger' }>): void {
    switch (effect.type) {
      case 'authenticated': {
        const previous = this.devices.get(effect.deviceId);
        this.devices.set(effect.deviceId, connection);
        this.unrouted.delete(connection);
        if (previous && previous !== connection) {
          this.unrouted.add(previous);
          previous.apply(previous.session.replaced());
        }
        // The `connected` event carries the Hello's time, not the announce's: push-core confirms the
        // registrations made before it, and a Register on this connection comes after the Hello.
        const helloAtMs = this.clock.now();
        this.enqueue(effect.deviceId, () => this.announce(connection, effect.deviceId, helloAtMs));
        return;
      }
      case 'refreshPresence':
        this.enqueue(effect.deviceId, () => this.refreshPresence(connection, effect.deviceId));
        return;
      case 'publishRegistration':
        this.enqueue(effect.request.deviceId, async () => {
          try {
            await this.bus.publishBatch(Topics.registrationRequested, [{ value: effect.request }]);
          } catch (err) {
            this.warn('registration request not published', effect.request.deviceId, err);
            connection.apply(connection.session.onRequestFailed(effect.request.correlationId));
          }
        });
        return;
      case 'publishReceipt':
        if (effect.receipt.status === 'delivered') this.sentReceipts.acknowledged(effect.receipt.deviceId, effect.receipt.messageIds);
        // A chain of their own: a receipt retried through a Kafka outage must not hold up the
        // device's presence refreshes (Redis), or its route expires while it is connected.
        this.enqueue(effect.receipt.deviceId, () => this.publishReceipt(effect.receipt), this.receiptChains);
        return;
      case 'released':
        this.enqueue(effect.deviceId, () => this.release(effect.deviceId));
        return;
      default: {
        const unhandled: never = effect;
        throw new Error(`unhandled session effect ${JSON.stringify(unhandled)}`);
      }
    }
  }

  closed(connection: DeviceConnection): void {
    const deviceId = connection.session.deviceId;
    if (deviceId !== null && this.devices.get(deviceId) === connection) this.devices.delete(deviceId);
    else this.unrouted.delete(connection);
    this.openSources.release(connection.session.source);
    if (this.allClosed && this.openConnections() === 0) this.allClosed();
  }

  private openConnections(): number {
    return this.devices.size + this.unrouted.size;
  }

  /** Every session made here is adopted, and its connection ends in `closed`, which releases the source. */
  private newSession(source: string): DeviceSession {
    return new DeviceSession(this.sessionContext, this.clock.now(), this.openSources.hold(source));
  }

  /** The source's share first: a source over it does not spend the accept bucket everyone shares. */
  private admit(source: string): boolean {
    if (!this.draining && this.openConnections() + this.upgrading.size < this.settings.maxConnections) {
      const now = this.clock.now();
      if (!this.sourceShares.tryTake(source, now)) this.stats.connectionsOverSourceShare++;
      else if (this.admission.tryTake(now)) return true;
    }
    this.stats.connectionsRejected++;
    return false;
  }

  private adopt(connection: DeviceConnection): void {
    this.stats.connectionsAccepted++;
    this.stats.connectionsByWire[connection.wire]++;
    this.unrouted.add(connection);
    connection.wakeSlot = this.wheel.schedule(connection, connection.session.nextDeadline());
    // A TLS handshake admitted before the drain began and completed after it.
    if (this.draining) connection.apply(connection.session.goAway(this.spreadDelay(), 'server shutting down'));
  }

  /** Over the accept rate (or draining): come back later, at a spread delay, without a session. */
  private sendAway(socket: Socket | WebSocket, wire: WireKind): void {
    const frame = { goAway: { reconnectDelayMs: this.spreadDelay(), reason: this.draining ? 'server shutting down' : 'server busy' } };
    if (wire === 'ws') {
      const ws = socket as WebSocket;
      ws.send(encodeFrame(frame), { binary: true });
      ws.close(1013);
    } else {
      const stream = socket as Socket;
      stream.on('error', () => undefined);
      stream.end(encodeFramePrefixed(frame));
      // Read and drop whatever the peer sends, or its FIN is never seen and the socket stays half
      // open; and cut a peer that does not close its side, or each such socket holds a descriptor
      // that admission control does not count.
      stream.resume();
      stream.setTimeout(this.closeGraceMs, () => stream.destroy());
    }
  }

  private advanceWheel(): void {
    const now = this.clock.now();
    if (this.upgrading.size > 0) this.cutStalledUpgrades(now);
    this.wheel.advance(now, (connection, slot) => {
      // An entry older than the connection's current one: it was rescheduled earlier meanwhile.
      if (slot < connection.wakeSlot) return;
      const next = connection.tick(now);
      connection.wakeSlot = next === Infinity ? NO_WAKE_SLOT : this.wheel.schedule(connection, next);
    });
  }

  /** WebSocket upgrade requests not completed by the Hello deadline (a device that never upgrades never says Hello). */
  private cutStalledUpgrades(now: number): void {
    // In the order they were accepted: the first not due ends the sweep.
    for (const [peer, { socket, acceptedAtMs }] of this.upgrading) {
      if (now - acceptedAtMs < this.settings.helloTimeoutMs) break;
      this.upgrading.delete(peer);
      this.stats.upgradesTimedOut++;
      socket.destroy();
    }
  }

  /** Routes the device here, then tells push-core. A device that cannot be routed is sent away to retry. */
  private async announce(connection: DeviceConnection, deviceId: string, atMs = this.clock.now()): Promise<void> {
    const { instanceId, presenceTtlSeconds } = this.settings;
    try {
      await this.presence.set(deviceId, instanceId, presenceTtlSeconds);
      await this.bus.publishBatch(Topics.deviceEvents, [{ value: this.deviceEvent('connected', deviceId, atMs) }]);
    } catch (err) {
      this.warn('device could not be announced; sending it away', deviceId, err);
      if (this.devices.get(deviceId) === connection) connection.apply(connection.session.goAway(this.spreadDelay(), 'service temporarily unavailable'));
    }
  }

  /**
   * Renews the device's route. An entry found missing (it expired while the refresh could not
   * run, or Redis lost it) is set again and the device announced again: deliveries stored while it
   * looked offline wait for a `connected` event, and without one they would wait for its next
   * reconnect. An entry of another instance is left alone: the device has a newer connection there.
   */
  private async refreshPresence(connection: DeviceConnection, deviceId: string): Promise<void> {
    if (this.devices.get(deviceId) !== connection) return;
    const { instanceId, presenceTtlSeconds } = this.settings;
    let outcome: PresenceRefresh;
    try {
      outcome = await this.presence.refresh(deviceId, instanceId, presenceTtlSeconds);
    } catch (err) {
      return this.warn('presence refresh failed', deviceId, err);
    }
    if (outcome === 'kept') return;
    if (outcome === 'taken') {
      this.stats.presenceTaken++;
      this.logger.warn({ msg: 'presence names another instance; left to it', deviceId });
      return;
    }
    this.stats.presenceRestored++;
    this.logger.warn({ msg: 'presence had expired while the device was connected; announcing it again', deviceId });
    if (this.devices.get(deviceId) === connection) await this.announce(connection, deviceId);
  }

  /**
   * The device's Ack is the only news that it has the message: a receipt lost here leaves the
   * delivery open, and push-core resends it only when the device reconnects, which a device that
   * stays connected (through a Kafka outage, say) never does. So a failed publish is retried with
   * backoff until Kafka takes it, in order with the device's other effects. Once the instance
   * drains, it gives up: the device reconnects elsewhere and acknowledges the resent delivery there.
   */
  private async publishReceipt(receipt: DeliveryReceiptV1): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.bus.publishBatch(Topics.deliveryReceipts, [{ value: receipt }]);
        if (attempt > 0) this.logger.log({ msg: 'delivery receipt published after retries', deviceId: receipt.deviceId, attempts: attempt + 1 });
        return;
      } catch (err) {
        if (this.draining) return this.warn('delivery receipt not published (the delivery stays open and is resent on reconnect)', receipt.deviceId, err);
        if (attempt === 0) this.warn('delivery receipt not published; retrying', receipt.deviceId, err);
        await sleep(RECEIPT_RETRY_BASE_MS + backoffDelay(attempt, RECEIPT_RETRY_BASE_MS, RECEIPT_RETRY_CAP_MS));
      }
    }
  }

  private async release(deviceId: string): Promise<void> {
    // A newer connection of the device on this instance owns the route (and the same presence entry).
    if (this.devices.has(deviceId)) return;
    const { instanceId } = this.settings;
    await this.presence.removeIfOwner(deviceId, instanceId).catch((err: unknown) => this.warn('presence not removed (it expires by TTL)', deviceId, err));
    await this.bus
      .publishBatch(Topics.deviceEvents, [{ value: this.deviceEvent('disconnected', deviceId) }])
      .catch((err: unknown) => this.warn('disconnect event not published', deviceId, err));
  }

  private deviceEvent(kind: DeviceEventV1['kind'], deviceId: string, atMs = this.clock.now()): DeviceEventV1 {
    return { kind, deviceId, instanceId: this.settings.instanceId, atMs };
  }

  private enqueue(deviceId: string, task: () => Promise<void>, chains = this.chains): void {
    const tail = (chains.get(deviceId) ?? Promise.resolve())
      .then(task)
      .catch((err: unknown) => this.logger.error({ msg: 'device effect failed', deviceId, error: (err as Error).stack ?? String(err) }));
    chains.set(deviceId, tail);
    void tail.then(() => {
      if (chains.get(deviceId) === tail) chains.delete(deviceId);
    });
  }

  /**
   * Reconnect delays are spread so that the devices do not all return at once: over at least
   * `goAwaySpreadMs`, and over as long as the accept rate needs to take all of them back.
   */
  private spreadDelay(): number {
    const { goAwaySpreadMs, acceptRatePerSecond } = this.settings;
    const spread = Math.max(goAwaySpreadMs, Math.ceil((this.openConnections() * 1000) / acceptRatePerSecond));
    return Math.floor(Math.random() * (spread + 1));
  }

  /**
   * GoAway to every device (spread delays); devices acknowledge what they got and close, or are
   * cut after the grace; new deliveries meanwhile are reported not held, so push-core keeps them
   * for the devices' next connection. Then presence is released and the listeners close.
   */
  private async drain(): Promise<void> {
    this.draining = true;
    for (const { socket } of this.upgrading.values()) socket.destroy();
    this.upgrading.clear();
    const closing = [this.tcp, this.tls, this.webSocketHttp].map(
      (server) => new Promise<void>((resolve) => (server?.listening ? server.close(() => resolve()) : resolve())),
    );
    const connections = [...this.devices.values(), ...this.unrouted];
    this.logger.log({ msg: 'draining device connections', connections: connections.length });
    const allClosed = new Promise<void>((resolve) => (this.allClosed = resolve));
    if (this.openConnections() === 0) this.allClosed!();
    for (const connection of connections) connection.apply(connection.session.goAway(this.spreadDelay(), 'server shutting down'));
    const grace = new AbortController();
    await Promise.race([allClosed, sleep(this.settings.drainGraceMs, grace.signal)]);
    grace.abort();
    // Those still open after the grace, including any whose TLS handshake completed after the drain began.
    for (const connection of [...this.devices.values(), ...this.unrouted]) connection.destroy();
    await allClosed;
    if (this.wheelTimer) clearInterval(this.wheelTimer);
    this.coalescePumps?.stop();
    this.retryPumps.stop();
    // What the devices did not acknowledge before they left.
    await this.sentReceipts.flush();
    // Presence removals and disconnect events of the closed connections.
    while (this.chains.size + this.receiptChains.size > 0) await Promise.all([...this.chains.values(), ...this.receiptChains.values()]);
    // An HTTP server used for WebSocket upgrades keeps idle keep-alive sockets otherwise.
    this.webSocketHttp?.closeAllConnections();
    await Promise.all(closing);
  }

  private warn(msg: string, deviceId: string, err: unknown): void {
    this.logger.warn({ msg, deviceId, error: err instanceof Error ? err.message : String(err) });
  }
}

/** Accept backlog: a reconnect storm arrives faster than one event loop turn accepts (the kernel caps it at net.core.somaxconn). */
const LISTEN_BACKLOG = 8192;

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** A socket's peer, read once (readPeer): its address and port as a key, and the source it counts against. */
function peerOf(socket: Socket): { key: string; source: string } {
  const { address, port } = readPeer(socket);
  return { key: `${address}|${port}`, source: sourceOf(address) };
}

function addressOf(server: Server): { host: string; port: number } {
  const address = server.address() as AddressInfo | null;
  if (!address) throw new Error('the device server is not listening');
  return { host: address.address, port: address.port };
}
