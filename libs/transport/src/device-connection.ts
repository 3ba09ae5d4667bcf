import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '@nestjs/common';
import type { WebSocket } from 'ws';
import { DeviceErrorCode, DeviceProtocol, FrameError, FrameSplitter, MAX_FRAME_BYTES, encodeFrame, encodeFramePrefixed, type DeliveryV1, type Frame, type FrameInit } from '@borealis/contracts';
import type { DeviceSession, SessionEffect, Step } from './device-session';
import { encodeNotification, encodeNotificationBatch, notificationRetained, prefixedFrames, sharedNotification } from './frames';
import type { TransportStats } from './transport-stats';
import { WriteQueue } from './write-queue';

/**
 * What became of a delivery handed to a connection: written to the socket (its `sent` receipt is
 * the caller's), queued behind a backlog or held to be coalesced (the host reports it `sent` once
 * it is written: `ConnectionHost.written`), or not taken (the device is not held here).
 */
export type DeliverOutcome = 'written' | 'queued' | 'not_held';

/** A Notifications frame's notifications stay under this (the frame limit, less its own tag and length). */
const MAX_BATCH_BYTES = MAX_FRAME_BYTES - 16;

export type WireKind = 'tcp' | 'tls' | 'ws';

/** What a connection needs from the server that owns it. */
export interface ConnectionHost {
  /** Performs an effect other than `close` and `linger` (routing, presence, publishing). */
  perform(connection: DeviceConnection, effect: Exclude<SessionEffect, { type: 'close' | 'linger' }>): void;
  closed(connection: DeviceConnection): void;
  /** The connection needs its tick by `atMs`, earlier than it is scheduled. */
  wake(connection: DeviceConnection, atMs: number): void;
  now(): number;
  readonly stats: TransportStats;
  readonly logger: Logger;
  /** A device whose unsent bytes exceed this is cut off. */
  readonly maxUnsentBytes: number;
  /** After the server ends a connection, the peer has this long to close its side. */
  readonly closeGraceMs: number;
  /** Beyond this many unsent bytes in its socket, a connection queues notifications (high ones first). */
  readonly writeHighWaterBytes: number;
  /** Normal pushes to a version 3 device are held this long to go out in one Notifications frame; 0: off. */
  readonly coalesceMs: number;
  /** Pump the connection's write queue later: when its coalescing window ends, or soon (its socket was backpressured). */
  schedulePump(connection: DeviceConnection, when: 'coalesced' | 'retry'): void;
  /** Queued notifications were written: their `sent` receipts are the host's. */
  written(connection: DeviceConnection, messageIds: string[]): void;
}

/** Connection state: open, ending (the peer has the close grace to finish; since when is in `closingSinceMs`) or closed. */
const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;
type ConnectionState = typeof OPEN | typeof CLOSING | typeof CLOSED;

/** Never a due slot: the wake slot of a closed connection (a small integer, so that the field stays unboxed). */
export const NO_WAKE_SLOT = 0x3fffffff;

/**
 * The socket adapter of one device session: turns the wire's messages into frames, feeds the
 * session, writes the frames it answers and hands its effects to the host. It holds no protocol
 * rules. Subclasses speak one wire each: a byte stream with varint framing (TCP, TLS) or WebSocket.
 *
 * Kept small on purpose: one instance lives per connected device. The socket's listeners are
 * shared functions (the socket points back at its connection), fields hold small integers or
 * objects (a double field costs V8 a separate box per object), and what only some connections need
 * (a partial frame, a closing time) is created when they need it.
 */
export abstract class DeviceConnection {
  /** Timer wheel slot of this connection's current entry (older entries are stale). */
  wakeSlot = 0;
  private state: ConnectionState = OPEN;
  /** When the connection started closing; null while open (set on few connections at a time, so not a number field on all). */
  private closingSinceMs: number | null = null;
  /** Notifications waiting to be written: only while the socket is backpressured or pushes are held to coalesce. */
  private out: WriteQueue | null = null;

  constructor(
    readonly session: DeviceSession,
    protected readonly host: ConnectionHost,
  ) {}

  abstract get wire(): WireKind;
  /** Bytes written but not yet taken by the kernel. */
  protected abstract get unsentBytes(): number;
  abstract get writable(): boolean;
  protected abstract writeFrames(frames: FrameInit[]): void;
  /** Writes one Notification frame; returns the bytes the socket holds unsent after it, for the caller's bound check. */
  protected abstract writeNotification(delivery: DeliveryV1): number;
  /**
   * Queued Notification frames (no length prefix), in order: as one Notifications frame when
   * `batch`, else each in its own frame. `flushed` runs once the bytes have left the process.
   */
  protected abstract writeQueued(frames: Buffer[], batch: boolean, flushed: () => void): void;
  protected abstract endWire(): void;
  abstract destroy(): void;

  get isClosed(): boolean {
    return this.state === CLOSED;
  }

  apply(step: Step): void {
    this.run(step);
    if (this.state !== CLOSED) this.host.wake(this, this.nextDeadline());
  }

  /**
   * Writes a Notification if this connection can take it, or queues it: behind a backlog the device
   * has not read yet (a `high` push ahead of the `normal` ones waiting), or held to be coalesced.
   */
  deliver(delivery: DeliveryV1): DeliverOutcome {
    if (!this.writable || !this.session.deliver(delivery)) return 'not_held';
    // The usual case, as fast as without a queue: nothing waits, the socket takes it, nothing to hold.
    if (
      this.out === null &&
      this.unsentBytes <= this.host.writeHighWaterBytes &&
      (this.host.coalesceMs === 0 || delivery.priority === 'high' || !this.session.takesNotificationBatches)
    ) {
      this.host.stats.notificationOut();
      return this.checkBackpressure(this.writeNotification(delivery)) ? 'written' : 'not_held';
    }
    return this.enqueue(delivery);
  }

  /** Notifications waiting in this connection's write queue. */
  get queuedNotifications(): number {
    return this.out?.size ?? 0;
  }

  /**
   * Writes what may go of the queue while the socket takes it: high pushes, and normal ones unless
   * held to coalesce (`flushNormals`: held ones too). Called when a high push arrives, when a
   * coalescing window ends, and when the socket drained.
   */
  pump(flushNormals = false): void {
    const out = this.out;
    if (out === null || this.state === CLOSED) return;
    try {
      if (!this.writable) return;
      const now = this.host.now();
      const normalsToo = flushNormals || out.holdNormalUntilMs <= now;
      if (normalsToo) out.holdNormalUntilMs = 0;
      const batches = this.session.takesNotificationBatches;
      let written: string[] | null = null;
      while (!out.isEmpty && this.unsentBytes <= this.host.writeHighWaterBytes) {
        const taken = out.take(this.packBytes, normalsToo);
        if (taken.length === 0) break;
        // Expired while it waited: push-core's to mark expired, as for one found expired in the inbox.
        const live = taken.filter((n) => n.expiresAtMs > now);
        this.host.stats.deliveriesExpired += taken.length - live.length;
        if (live.length === 0) continue;
        const batch = batches && live.length > 1;
        this.host.stats.queuedOut(live.length, batch ? 1 : live.length, batch);
        // The socket is ready for more once these bytes have left: pump again then.
        this.writeQueued(
          live.map((n) => n.frame),
          batch,
          () => this.pump(),
        );
        written ??= [];
        for (const n of live) written.push(n.messageId);
      }
      if (out.isEmpty) this.out = null;
      else if (this.unsentBytes > this.host.writeHighWaterBytes) this.retryLater(out);
      // Cut off (over the bound), the connection reports nothing: push-core sends them again on the next one.
      if (this.checkBackpressure() && written !== null) this.host.written(this, written);
    } catch (err) {
      this.failed(err);
    }
  }

  private enqueue(delivery: DeliveryV1): DeliverOutcome {
    const frame = encodeNotification(delivery, false);
    const queued = this.out?.bytes ?? 0;
    // The bound: what the socket holds and what waits, together, as for a device that does not read.
    if (this.unsentBytes + queued + frame.length > this.host.maxUnsentBytes) {
      this.cutSlowReader();
      return 'not_held';
    }
    const out = (this.out ??= new WriteQueue());
    const high = delivery.priority === 'high';
    out.add({ messageId: delivery.messageId, expiresAtMs: delivery.expiresAtMs, frame }, high);
    this.host.stats.deliveriesQueued++;
    if (this.unsentBytes > this.host.writeHighWaterBytes) {
      this.retryLater(out);
    } else if (high || this.host.coalesceMs === 0 || !this.session.takesNotificationBatches) {
      // A high push goes at once, and takes the normal ones held for coalescing along: the device wakes for it anyway.
      this.pump(true);
    } else if (out.bytes >= this.packBytes) {
      // A full frame's worth need not wait for the window.
      this.pump(true);
    } else if (out.holdNormalUntilMs === 0) {
      out.holdNormalUntilMs = this.host.now() + this.host.coalesceMs;
      this.host.schedulePump(this, 'coalesced');
    }
    return 'queued';
  }

  /** What one write from the queue carries at most: a Notifications frame within the frame limit, and no more than the high-water mark. */
  private get packBytes(): number {
    return Math.min(MAX_BATCH_BYTES, this.host.writeHighWaterBytes);
  }

  /** push-core cancelled these: those still waiting here are not written (and never reported). */
  cancelQueued(messageIds: readonly string[]): number {
    const out = this.out;
    if (out === null) return 0;
    const removed = out.remove(messageIds);
    if (out.isEmpty) this.out = null;
    return removed;
  }

  private retryLater(out: WriteQueue): void {
    if (out.retryScheduled) return;
    out.retryScheduled = true;
    this.host.schedulePump(this, 'retry');
  }

  /** The host's retry timer fired. */
  retryPump(): void {
    if (this.out !== null) this.out.retryScheduled = false;
    this.pump();
  }

  /** Called when the connection's timer wheel slot fires; returns when it next needs a tick. */
  tick(nowMs: number): number {
    if (this.state === CLOSED) return Infinity;
    if (this.state === CLOSING) {
      const until = this.closingSinceMs! + this.host.closeGraceMs;
      if (nowMs < until) return until;
      this.destroy();
      return Infinity;
    }
    try {
      this.run(this.session.onTick(nowMs));
    } catch (err) {
      this.failed(err);
    }
    return this.isClosed ? Infinity : this.nextDeadline();
  }

  /** One frame body arrived. */
  protected onBody(body: Uint8Array): void {
    let frame: Frame;
    try {
      frame = DeviceProtocol.Frame.decode(body);
    } catch (err) {
      this.apply(this.session.onFrameError(DeviceErrorCode.MALFORMED_FRAME, `malformed frame: ${(err as Error).message}`));
      return;
    }
    const kind = frame.kind;
    if (kind !== undefined) {
      this.host.stats.frameIn(kind);
      if (kind === 'ack') this.host.stats.acks += frame.ack?.messageIds?.length ?? 0;
    }
    this.apply(this.session.onFrame(frame, this.host.now()));
  }

  protected onFrameError(err: FrameError): void {
    this.apply(this.session.onFrameError(err.code, err.message));
  }

  protected onClose(): void {
    if (this.state === CLOSED) return;
    this.state = CLOSED;
    this.closingSinceMs = null;
    // Never reported `sent`: push-core keeps them pending and sends them on the device's next connection.
    if (this.out !== null) {
      this.host.stats.queuedUnwritten += this.out.clear();
      this.out = null;
    }
    this.host.stats.connectionsClosed++;
    this.host.stats.connectionsByWire[this.wire]--;
    this.host.closed(this);
    try {
      this.apply(this.session.onClosed());
    } catch (err) {
      this.failed(err);
    }
  }

  protected onSocketError(err: Error): void {
    this.host.logger.debug({ msg: 'device socket error', wire: this.wire, deviceId: this.session.deviceId, error: err.message });
  }

  private run(step: Step): void {
    if (step.send.length > 0) this.write(step.send);
    for (const effect of step.effects) {
      if (effect.type === 'close') this.end();
      else if (effect.type === 'linger') this.linger();
      else this.host.perform(this, effect);
    }
  }

  private nextDeadline(): number {
    return this.state === CLOSING ? this.closingSinceMs! + this.host.closeGraceMs : this.session.nextDeadline();
  }

  private write(frames: FrameInit[]): boolean {
    if (!this.writable) return false;
    for (const frame of frames) this.host.stats.frameOut(frame);
    this.writeFrames(frames);
    return this.checkBackpressure();
  }

  /** `unsent`: the socket's unsent bytes, when the caller has just read them. */
  private checkBackpressure(unsent = this.unsentBytes): boolean {
    if (unsent + (this.out?.bytes ?? 0) <= this.host.maxUnsentBytes) return true;
    this.cutSlowReader();
    return false;
  }

  private cutSlowReader(): void {
    this.host.stats.slowReaderDrops++;
    this.host.logger.warn({ msg: 'device does not read its socket; closing', deviceId: this.session.deviceId });
    this.destroy();
  }

  private end(): void {
    if (this.state !== OPEN) return;
    this.startClosing();
    this.endWire();
  }

  /** GoAway: the device closes when it has acknowledged what it got; cut it after the grace. */
  private linger(): void {
    if (this.state === OPEN) this.startClosing();
  }

  private startClosing(): void {
    this.state = CLOSING;
    this.closingSinceMs = this.host.now();
  }

  /** No input may crash the process: a bug met on one connection costs that connection only. */
  protected failed(err: unknown): void {
    this.host.stats.internalFailures++;
    this.host.logger.error({ msg: 'device connection handler failed', deviceId: this.session.deviceId, error: (err as Error).stack ?? String(err) });
    this.destroy();
  }
}

/** A socket's back reference to its connection, read by the listeners that every socket shares. */
const CONNECTION = Symbol('deviceConnection');
type StreamSocket = Socket & { [CONNECTION]?: StreamConnection };
type MessageSocket = WebSocket & { [CONNECTION]?: WebSocketConnection };

/**
 * The splitter of every stream connection that has no partial frame: almost every read carries
 * whole frames, so a connection owns a splitter only while a frame is incomplete (it takes the
 * spare, and a new spare is made).
 */
let spareSplitter = new FrameSplitter(MAX_FRAME_BYTES);

/** TCP or TLS: a byte stream, each frame a varint length prefix and its body. */
export class StreamConnection extends DeviceConnection {
  /** Only while a frame is incomplete. */
  private splitter: FrameSplitter | null = null;

  constructor(
    private readonly socket: Socket,
    session: DeviceSession,
    host: ConnectionHost,
  ) {
    super(session, host);
    (socket as StreamSocket)[CONNECTION] = this;
    socket.on('data', StreamConnection.onSocketData);
    socket.on('error', StreamConnection.onSocketError);
    socket.on('close', StreamConnection.onSocketClose);
  }

  private static onSocketData(this: StreamSocket, chunk: Buffer): void {
    this[CONNECTION]?.onData(chunk);
  }

  private static onSocketError(this: StreamSocket, err: Error): void {
    this[CONNECTION]?.onSocketError(err);
  }

  private static onSocketClose(this: StreamSocket): void {
    this[CONNECTION]?.onClose();
  }

  get wire(): 'tcp' | 'tls' {
    return (this.socket as TLSSocket).encrypted === true ? 'tls' : 'tcp';
  }

  protected get unsentBytes(): number {
    return this.socket.writableLength;
  }

  get writable(): boolean {
    return this.socket.writable;
  }

  protected writeFrames(frames: FrameInit[]): void {
    this.socket.write(frames.length === 1 ? encodeFramePrefixed(frames[0]!) : Buffer.concat(frames.map(encodeFramePrefixed)));
  }

  protected writeNotification(delivery: DeliveryV1): number {
    const socket = this.socket;
    if ((socket as TLSSocket).encrypted === true) {
      socket.write(encodeNotification(delivery, true));
      return socket.writableLength;
    }
    // Plain TCP: the shared frame buffer; a write that completed at once (nothing left queued) holds no reference to it.
    const bytes = sharedNotification(delivery);
    socket.write(bytes);
    const unsent = socket.writableLength;
    if (unsent > 0) notificationRetained(bytes);
    return unsent;
  }

  protected writeQueued(frames: Buffer[], batch: boolean, flushed: () => void): void {
    this.socket.write(batch ? encodeNotificationBatch(frames, true) : prefixedFrames(frames), flushed);
  }

  protected endWire(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    try {
      if (!this.session.acceptsInput) return;
      const splitter = this.splitter ?? spareSplitter;
      let bodies: Buffer[];
      try {
        bodies = splitter.push(chunk);
      } catch (err) {
        // The splitter throws before it keeps anything: the spare stays empty.
        if (!(err instanceof FrameError)) throw err;
        this.onFrameError(err);
        return;
      }
      if (splitter.bufferedBytes === 0) this.splitter = null;
      else if (splitter === spareSplitter) {
        this.splitter = splitter;
        spareSplitter = new FrameSplitter(MAX_FRAME_BYTES);
      }
      for (const body of bodies) {
        if (!this.session.acceptsInput) return;
        this.onBody(body);
      }
    } catch (err) {
      this.failed(err);
    }
  }
}

/** WebSocket (path /device): one binary message is one frame. */
export class WebSocketConnection extends DeviceConnection {
  constructor(
    private readonly socket: WebSocket,
    session: DeviceSession,
    host: ConnectionHost,
  ) {
    super(session, host);
    (socket as MessageSocket)[CONNECTION] = this;
    socket.on('message', WebSocketConnection.onSocketMessage);
    socket.on('error', WebSocketConnection.onSocketError);
    socket.on('close', WebSocketConnection.onSocketClose);
  }

  private static onSocketMessage(this: MessageSocket, data: Buffer, isBinary: boolean): void {
    this[CONNECTION]?.onMessage(data, isBinary);
  }

  private static onSocketError(this: MessageSocket, err: Error): void {
    this[CONNECTION]?.onSocketError(err);
  }

  private static onSocketClose(this: MessageSocket): void {
    this[CONNECTION]?.onClose();
  }

  get wire(): 'ws' {
    return 'ws';
  }

  protected get unsentBytes(): number {
    return this.socket.bufferedAmount;
  }

  get writable(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  protected writeFrames(frames: FrameInit[]): void {
    for (const frame of frames) this.socket.send(encodeFrame(frame), { binary: true });
  }

  protected writeNotification(delivery: DeliveryV1): number {
    this.socket.send(encodeNotification(delivery, false), { binary: true });
    return this.unsentBytes;
  }

  protected writeQueued(frames: Buffer[], batch: boolean, flushed: () => void): void {
    if (batch) {
      this.socket.send(encodeNotificationBatch(frames, false), { binary: true }, flushed);
      return;
    }
    for (let i = 0; i < frames.length; i++) this.socket.send(frames[i]!, { binary: true }, i === frames.length - 1 ? flushed : undefined);
  }

  protected endWire(): void {
    this.socket.close(1000);
  }

  destroy(): void {
    this.socket.terminate();
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    try {
      if (!this.session.acceptsInput) return;
      if (!isBinary) return this.onFrameError(new FrameError(DeviceErrorCode.MALFORMED_FRAME, 'frames are binary WebSocket messages'));
      if (data.length > MAX_FRAME_BYTES) {
        return this.onFrameError(new FrameError(DeviceErrorCode.FRAME_TOO_LARGE, `frame of ${data.length} bytes exceeds the limit of ${MAX_FRAME_BYTES}`));
      }
      this.onBody(data);
    } catch (err) {
      this.failed(err);
    }
  }
}
