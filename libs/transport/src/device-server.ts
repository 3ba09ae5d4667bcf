import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { Topics, type DeliveryV1, type DeviceEventV1, type RegistrationReplyV1 } from '@borealis/contracts';
import { PresenceStore } from '@borealis/keyvalue';
import { MessageBus } from '@borealis/messaging';
import { Clock, randomToken, sleep } from '@borealis/util';
import { CredentialAuthority } from './credentials';
import { DeviceConnection, type ConnectionHost } from './device-connection';
import { DeviceSession, type SessionEffect, type SessionPorts } from './device-session';
import { TRANSPORT_SETTINGS, type TransportSettings } from './transport-options';

/** Reconnect delays told to devices when the server drains are spread over this range, so they do not return at once. */
export const GOAWAY_SPREAD_MS = 5000;
/** How long devices get to close after GoAway before their sockets are cut. */
const DRAIN_GRACE_MS = 2000;

/**
 * The device TCP server: accepts connections, gives each a DeviceSession, routes deliveries and
 * registration replies to the connection that holds a device, and performs the sessions' effects
 * (presence, device events, registration requests, receipts). One interval timer sweeps every
 * connection for idle timeouts, request timeouts and presence refreshes.
 */
@Injectable()
export class DeviceServer implements ConnectionHost, OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('DeviceServer');
  private readonly server: Server;
  private readonly connections = new Set<DeviceConnection>();
  /** The live, authenticated connection of every device held by this instance. */
  private readonly devices = new Map<string, DeviceConnection>();
  /** Effects of one device run in order, across its connections: a late disconnect never overtakes a reconnect. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly sessionPorts: SessionPorts;
  private sweepTimer: NodeJS.Timeout | null = null;
  private draining = false;
  private stopping: Promise<void> | null = null;

  constructor(
    @Inject(TRANSPORT_SETTINGS) private readonly settings: TransportSettings,
    credentials: CredentialAuthority,
    private readonly bus: MessageBus,
    private readonly presence: PresenceStore,
    private readonly clock: Clock,
  ) {
    this.sessionPorts = { credentials, newCorrelationId: () => randomToken(16) };
    this.server = createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 }, (socket) => this.accept(socket));
  }

  async onApplicationBootstrap(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: this.settings.host, port: this.settings.port }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.server.on('error', (err) => this.logger.error({ msg: 'device server error', error: err.message }));
    this.sweepTimer = setInterval(() => this.sweep(), this.settings.sweepIntervalMs);
    this.sweepTimer.unref();
    const { host, port } = this.address();
    this.logger.log({ msg: 'device server listening', instanceId: this.settings.instanceId, host, port });
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  isListening(): boolean {
    return this.server.listening && !this.draining;
  }

  address(): { host: string; port: number } {
    const address = this.server.address() as AddressInfo | null;
    if (!address) throw new Error('the device server is not listening');
    return { host: address.address, port: address.port };
  }

  /** Devices connected here with a completed Hello. */
  heldDevices(): number {
    return this.devices.size;
  }

  /** Writes the Notification to the device's connection; false when this instance does not hold the device. */
  deliver(delivery: DeliveryV1): boolean {
    return this.devices.get(delivery.deviceId)?.deliver(delivery) ?? false;
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

  perform(connection: DeviceConnection, effect: Exclude<SessionEffect, { type: 'close' }>): void {
    const { instanceId, presenceTtlSeconds } = this.settings;
    switch (effect.type) {
      case 'authenticated': {
        const previous = this.devices.get(effect.deviceId);
        this.devices.set(effect.deviceId, connection);
        if (previous && previous !== connection) previous.apply(previous.session.replaced());
        this.enqueue(effect.deviceId, () => this.announce(connection, effect.deviceId));
        return;
      }
      case 'refreshPresence':
        this.enqueue(effect.deviceId, async () => {
          if (this.devices.get(effect.deviceId) !== connection) return;
          await this.presence.set(effect.deviceId, instanceId, presenceTtlSeconds).catch((err: unknown) => this.warn('presence refresh failed', effect.deviceId, err));
        });
        return;
      case 'publishRegistration':
        this.enqueue(effect.request.deviceId, async () => {
          try {
            await this.bus.publish(Topics.registrationRequested, [{ value: effect.request }]);
          } catch (err) {
            this.warn('registration request not published', effect.request.deviceId, err);
            connection.apply(connection.session.onRequestFailed(effect.request.correlationId));
          }
        });
        return;
      case 'publishReceipt':
        // Not fatal when it fails: the delivery stays `sent`, is redelivered later, and the device acks again.
        this.enqueue(effect.receipt.deviceId, () =>
          this.bus.publish(Topics.deliveryReceipts, [{ value: effect.receipt }]).catch((err: unknown) => this.warn('delivery receipt not published', effect.receipt.deviceId, err)),
        );
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
    this.connections.delete(connection);
    const deviceId = connection.session.deviceId;
    if (deviceId !== null && this.devices.get(deviceId) === connection) this.devices.delete(deviceId);
  }

  private accept(socket: Socket): void {
    if (this.draining) {
      socket.destroy();
      return;
    }
    const session = new DeviceSession(this.settings, this.sessionPorts, this.clock.now());
    this.connections.add(new DeviceConnection(socket, session, this, this.logger));
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const connection of this.connections) connection.tick(now);
  }

  /** Routes the device here, then tells push-core. A device that cannot be routed is sent away to retry. */
  private async announce(connection: DeviceConnection, deviceId: string): Promise<void> {
    const { instanceId, presenceTtlSeconds } = this.settings;
    try {
      await this.presence.set(deviceId, instanceId, presenceTtlSeconds);
      await this.bus.publish(Topics.deviceEvents, [{ value: this.deviceEvent('connected', deviceId) }]);
    } catch (err) {
      this.warn('device could not be announced; sending it away', deviceId, err);
      if (this.devices.get(deviceId) === connection) connection.apply(connection.session.goAway(spreadDelay(), 'service temporarily unavailable'));
    }
  }

  private async release(deviceId: string): Promise<void> {
    // A newer connection of the device on this instance owns the route (and the same presence entry).
    if (this.devices.has(deviceId)) return;
    const { instanceId } = this.settings;
    await this.presence.removeIfOwner(deviceId, instanceId).catch((err: unknown) => this.warn('presence not removed (it expires by TTL)', deviceId, err));
    await this.bus
      .publish(Topics.deviceEvents, [{ value: this.deviceEvent('disconnected', deviceId) }])
      .catch((err: unknown) => this.warn('disconnect event not published', deviceId, err));
  }

  private deviceEvent(kind: DeviceEventV1['kind'], deviceId: string): DeviceEventV1 {
    return { kind, deviceId, instanceId: this.settings.instanceId, atMs: this.clock.now() };
  }

  private enqueue(deviceId: string, task: () => Promise<void>): void {
    const tail = (this.chains.get(deviceId) ?? Promise.resolve())
      .then(task)
      .catch((err: unknown) => this.logger.error({ msg: 'device effect failed', deviceId, error: (err as Error).stack ?? String(err) }));
    this.chains.set(deviceId, tail);
    void tail.then(() => {
      if (this.chains.get(deviceId) === tail) this.chains.delete(deviceId);
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    const serverClosed = new Promise<void>((resolve) => (this.server.listening ? this.server.close(() => resolve()) : resolve()));
    const connections = [...this.connections];
    this.logger.log({ msg: 'draining device connections', connections: connections.length });
    for (const connection of connections) connection.apply(connection.session.goAway(spreadDelay(), 'server shutting down'));
    const allClosed = Promise.all(connections.map((c) => c.closed));
    const grace = new AbortController();
    await Promise.race([allClosed, sleep(DRAIN_GRACE_MS, grace.signal)]);
    grace.abort();
    for (const connection of connections) connection.destroy();
    await allClosed;
    // Presence removals and disconnect events of the closed connections.
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
    await serverClosed;
  }

  private warn(msg: string, deviceId: string, err: unknown): void {
    this.logger.warn({ msg, deviceId, error: err instanceof Error ? err.message : String(err) });
  }
}

function spreadDelay(): number {
  return Math.floor(Math.random() * (GOAWAY_SPREAD_MS + 1));
}
