import { DeviceErrorCode, type FrameInit, type FrameKind } from '@borealis/contracts';

/** A point-in-time copy of the transport's counters (the observability layer exports these). */
export interface TransportStatsSnapshot {
  /** Gauges. */
  connectionsOpen: number;
  /** Open connections by wire: tcp, tls, ws. */
  connectionsByWire: Record<'tcp' | 'tls' | 'ws', number>;
  devicesHeld: number;
  /** Sources (IPv4 addresses, IPv6 /64s: admission.ts) with an open connection here. */
  sourcesConnected: number;
  /** Group pushes remembered as written and not yet acknowledged by every device (GroupDeliveries), and the memory they take. */
  unackedGroupMessages: number;
  unackedGroupBytes: number;
  /** Counters since start. */
  connectionsAccepted: number;
  /** Sent away by admission control (rate or connection cap) or refused while draining. */
  connectionsRejected: number;
  /** Of those, sent away because their source had used its share of the accept rate. */
  connectionsOverSourceShare: number;
  /** Hellos without credentials refused because their source had used its enrollment budget (Error RATE_LIMITED). */
  enrollmentsOverSourceLimit: number;
  /** Registers refused because their source had used its budget (Error RATE_LIMITED for the request). */
  registersOverSourceLimit: number;
  connectionsClosed: number;
  /** WebSocket connections cut because their upgrade had not completed by the Hello deadline. */
  upgradesTimedOut: number;
  framesIn: Partial<Record<FrameKind, number>>;
  framesOut: Partial<Record<FrameKind, number>>;
  /** Notifications written to a device. */
  deliveries: number;
  /** Deliveries for a device this instance does not hold (reported back as not_held). */
  deliveriesNotHeld: number;
  /** Deliveries dropped because their message expired before they could be written. */
  deliveriesExpired: number;
  /** Deliveries that waited in a connection's write queue (behind a backlog, or held to coalesce) before they were written. */
  deliveriesQueued: number;
  /** Queued deliveries never written because their connection closed first (not reported sent: push-core resends them). */
  queuedUnwritten: number;
  /** Queued deliveries taken out of a write queue because push-core cancelled their message. */
  queuedCancelled: number;
  /** Message ids acknowledged by devices. */
  acks: number;
  /** Group pushes forgotten for the memory bound before every device acknowledged them (late Acks of them are ignored). */
  unackedGroupEvicted: number;
  /** Connections cut because the device did not read its socket. */
  slowReaderDrops: number;
  /** Error frames sent, by code. */
  errors: Partial<Record<keyof typeof DeviceErrorCode, number>>;
  /** Handler faults caught at a connection (each costs that connection only). */
  internalFailures: number;
  /** Presence refreshes that found the route gone and set it again (the device was announced again). */
  presenceRestored: number;
  /** Presence refreshes that found another instance's route and left it. */
  presenceTaken: number;
}

/** What a snapshot takes from the server rather than from the counters. */
export type ServerReadings = Pick<TransportStatsSnapshot, 'connectionsOpen' | 'devicesHeld' | 'sourcesConnected' | 'unackedGroupMessages' | 'unackedGroupBytes' | 'unackedGroupEvicted'>;

/** The transport's counters: plain numbers bumped on the hot path, copied on demand. */
export class TransportStats {
  connectionsAccepted = 0;
  connectionsRejected = 0;
  connectionsOverSourceShare = 0;
  enrollmentsOverSourceLimit = 0;
  registersOverSourceLimit = 0;
  connectionsClosed = 0;
  upgradesTimedOut = 0;
  deliveries = 0;
  deliveriesNotHeld = 0;
  deliveriesExpired = 0;
  deliveriesQueued = 0;
  queuedUnwritten = 0;
  queuedCancelled = 0;
  acks = 0;
  slowReaderDrops = 0;
  internalFailures = 0;
  presenceRestored = 0;
  presenceTaken = 0;
  readonly connectionsByWire: Record<'tcp' | 'tls' | 'ws', number> = { tcp: 0, tls: 0, ws: 0 };
  private readonly framesIn: Partial<Record<FrameKind, number>> = {};
  private readonly framesOut: Partial<Record<FrameKind, number>> = {};
  private readonly errors: Partial<Record<keyof typeof DeviceErrorCode, number>> = {};

  frameIn(kind: FrameKind): void {
    this.framesIn[kind] = (this.framesIn[kind] ?? 0) + 1;
  }

  frameOut(frame: FrameInit): void {
    // A FrameInit names its kind as its one key.
    for (const key in frame) {
      const kind = key as FrameKind;
      this.framesOut[kind] = (this.framesOut[kind] ?? 0) + 1;
      if (kind === 'error') {
        const name = DeviceErrorCode[frame.error?.code ?? 0] as keyof typeof DeviceErrorCode | undefined;
        if (name) this.errors[name] = (this.errors[name] ?? 0) + 1;
      } else if (kind === 'notification') {
        this.deliveries++;
      }
      return;
    }
  }

  /** A Notification written (the delivery hot path counts without building a frame object). */
  notificationOut(): void {
    this.framesOut.notification = (this.framesOut.notification ?? 0) + 1;
    this.deliveries++;
  }

  /** Queued notifications written: `count` of them in `frames` frames (one Notifications frame when `batch`). */
  queuedOut(count: number, frames: number, batch: boolean): void {
    const kind = batch ? 'notifications' : 'notification';
    this.framesOut[kind] = (this.framesOut[kind] ?? 0) + frames;
    this.deliveries += count;
  }

  /** The counters kept here, with what the server reads off its connections and its group memory. */
  snapshot(gauges: ServerReadings): TransportStatsSnapshot {
    return {
      ...gauges,
      connectionsByWire: { ...this.connectionsByWire },
      connectionsAccepted: this.connectionsAccepted,
      connectionsRejected: this.connectionsRejected,
      connectionsOverSourceShare: this.connectionsOverSourceShare,
      enrollmentsOverSourceLimit: this.enrollmentsOverSourceLimit,
      registersOverSourceLimit: this.registersOverSourceLimit,
      connectionsClosed: this.connectionsClosed,
      upgradesTimedOut: this.upgradesTimedOut,
      framesIn: { ...this.framesIn },
      framesOut: { ...this.framesOut },
      deliveries: this.deliveries,
      deliveriesNotHeld: this.deliveriesNotHeld,
      deliveriesExpired: this.deliveriesExpired,
      deliveriesQueued: this.deliveriesQueued,
      queuedUnwritten: this.queuedUnwritten,
      queuedCancelled: this.queuedCancelled,
      acks: this.acks,
      slowReaderDrops: this.slowReaderDrops,
      errors: { ...this.errors },
      internalFailures: this.internalFailures,
      presenceRestored: this.presenceRestored,
      presenceTaken: this.presenceTaken,
    };
  }
}

/** Token bucket of admission control: `rate` connections per second, up to `burst` at once. */
export class AdmissionBucket {
  private tokens: number;
  private lastMs: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    nowMs: number,
  ) {
    this.tokens = burst;
    this.lastMs = nowMs;
  }

  tryTake(nowMs: number): boolean {
    const elapsed = nowMs - this.lastMs;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSecond) / 1000);
      this.lastMs = nowMs;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
