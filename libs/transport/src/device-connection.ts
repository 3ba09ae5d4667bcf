import type { Socket } from 'node:net';
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

/**
 * The socket adapter of one device session: turns the wire's messages into frames, feeds the
 * session, writes the frames it answers and hands its effects to the host. It holds no protocol
 * rules. Subclasses speak one wire each: a byte stream with varint framing (TCP, TLS) or WebSocket.
 * Kept small on purpose: one instance lives per connected device.
 */
export abstract class DeviceConnection {
  /** Timer wheel slot of this connection's current entry (older entries are stale). */
  wakeSlot = 0;
  private closingSinceMs = -1;
  private isClosed = false;
  private closedWaiters: (() => void)[] | null = null;

  constructor(
    readonly session: DeviceSession,
    protected readonly host: ConnectionHost,
  ) {}

  abstract readonly wire: WireKind;
  /** Bytes written but not yet taken by the kernel. */
  protected abstract get unsentBytes(): number;
  abstract get writable(): boolean;
  protected abstract writeFrames(frames: FrameInit[]): void;
  protected abstract writeNotification(delivery: DeliveryV1): void;
  protected abstract endWire(): void;
  abstract destroy(): void;

  /** Resolves when the connection has closed. */
  get closed(): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    return new Promise((resolve) => (this.closedWaiters ??= []).push(resolve));
  }

  apply(step: Step): void {
    this.run(step);
    if (!this.isClosed) this.host.wake(this, this.nextDeadline());
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
    if (this.isClosed) return Infinity;
    if (this.closingSinceMs >= 0) {
      if (nowMs - this.closingSinceMs < this.host.closeGraceMs) return this.closingSinceMs + this.host.closeGraceMs;
      this.destroy();
      return Infinity;
    }
    this.guard(() => this.run(this.session.onTick(nowMs)));
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
    if (this.isClosed) return;
    this.isClosed = true;
    this.host.stats.connectionsClosed++;
    this.host.stats.connectionsByWire[this.wire]--;
    this.host.closed(this);
    for (const resolve of this.closedWaiters ?? []) resolve();
    this.closedWaiters = null;
    this.guard(() => this.apply(this.session.onClosed()));
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
    return this.closingSinceMs >= 0 ? this.closingSinceMs + this.host.closeGraceMs : this.session.nextDeadline();
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
    if (this.closingSinceMs >= 0) return;
    this.closingSinceMs = this.host.now();
    this.endWire();
  }

  /** GoAway: the device closes when it has acknowledged what it got; cut it after the grace. */
  private linger(): void {
    if (this.closingSinceMs < 0) this.closingSinceMs = this.host.now();
  }

  /** No input may crash the process: a bug met on one connection costs that connection only. */
  protected guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.host.stats.internalFailures++;
      this.host.logger.error({ msg: 'device connection handler failed', deviceId: this.session.deviceId, error: (err as Error).stack ?? String(err) });
      this.destroy();
    }
  }
}

/** TCP or TLS: a byte stream, each frame a varint length prefix and its body. */
export class StreamConnection extends DeviceConnection {
  private readonly splitter = new FrameSplitter(MAX_FRAME_BYTES);

  constructor(
    private readonly socket: Socket,
    readonly wire: 'tcp' | 'tls',
    session: DeviceSession,
    host: ConnectionHost,
  ) {
    super(session, host);
    socket.on('data', (chunk: Buffer) => this.guard(() => this.onData(chunk)));
    socket.on('error', (err) => host.logger.debug({ msg: 'device socket error', deviceId: session.deviceId, error: err.message }));
    socket.on('close', () => this.onClose());
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
    if (this.wire === 'tls') {
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
    if (!this.session.acceptsInput) return;
    let bodies: Buffer[];
    try {
      bodies = this.splitter.push(chunk);
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      this.onFrameError(err);
      return;
    }
    for (const body of bodies) {
      if (!this.session.acceptsInput) return;
      this.onBody(body);
    }
  }
}

/** WebSocket (path /device): one binary message is one frame. */
export class WebSocketConnection extends DeviceConnection {
  readonly wire = 'ws';

  constructor(
    private readonly socket: WebSocket,
    session: DeviceSession,
    host: ConnectionHost,
  ) {
    super(session, host);
    socket.on('message', (data: Buffer, isBinary: boolean) => this.guard(() => this.onMessage(data, isBinary)));
    socket.on('error', (err) => host.logger.debug({ msg: 'device websocket error', deviceId: session.deviceId, error: err.message }));
    socket.on('close', () => this.onClose());
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
    if (!this.session.acceptsInput) return;
    if (!isBinary) return this.onFrameError(new FrameError(DeviceErrorCode.MALFORMED_FRAME, 'frames are binary WebSocket messages'));
    if (data.length > MAX_FRAME_BYTES) {
      return this.onFrameError(new FrameError(DeviceErrorCode.FRAME_TOO_LARGE, `frame of ${data.length} bytes exceeds the limit of ${MAX_FRAME_BYTES}`));
    }
    this.onBody(data);
  }
}
