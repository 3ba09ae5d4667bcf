import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '@nestjs/common';
import type { WebSocket } from 'ws';
import { DeviceErrorCode, DeviceProtocol, FrameError, FrameSplitter, MAX_FRAME_BYTES, encodeFrame, encodeFramePrefixed, type DeliveryV1, type Frame, type FrameInit } from '@borealis/contracts';
import type { DeviceSession, SessionEffect, Step } from './device-session';
import { encodeNotification, notificationRetained, sharedNotification } from './frames';
import type { TransportStats } from './transport-stats';

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

  constructor(
    readonly session: DeviceSession,
    protected readonly host: ConnectionHost,
  ) {}

  abstract get wire(): WireKind;
  /** Bytes written but not yet taken by the kernel. */
  protected abstract get unsentBytes(): number;
  abstract get writable(): boolean;
  protected abstract writeFrames(frames: FrameInit[]): void;
  protected abstract writeNotification(delivery: DeliveryV1): void;
  protected abstract endWire(): void;
  abstract destroy(): void;

  get isClosed(): boolean {
    return this.state === CLOSED;
  }

  apply(step: Step): void {
    this.run(step);
    if (this.state !== CLOSED) this.host.wake(this, this.nextDeadline());
  }

  /** Writes a Notification if this connection can take it; false means the device is not held here. */
  deliver(delivery: DeliveryV1): boolean {
    if (!this.writable || !this.session.deliver(delivery)) return false;
    this.host.stats.notificationOut();
    this.writeNotification(delivery);
    return this.checkBackpressure();
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

  private checkBackpressure(): boolean {
    if (this.unsentBytes <= this.host.maxUnsentBytes) return true;
    this.host.stats.slowReaderDrops++;
    this.host.logger.warn({ msg: 'device does not read its socket; closing', deviceId: this.session.deviceId });
    this.destroy();
    return false;
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

  protected writeNotification(delivery: DeliveryV1): void {
    if ((this.socket as TLSSocket).encrypted === true) {
      this.socket.write(encodeNotification(delivery, true));
      return;
    }
    // Plain TCP: the shared frame buffer; a write that completed at once (nothing left queued) holds no reference to it.
    const bytes = sharedNotification(delivery);
    this.socket.write(bytes);
    if (this.socket.writableLength > 0) notificationRetained(bytes);
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

  protected writeNotification(delivery: DeliveryV1): void {
    this.socket.send(encodeNotification(delivery, false), { binary: true });
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
