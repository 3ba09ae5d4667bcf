import type { Socket } from 'node:net';
import type { Logger } from '@nestjs/common';
import { FrameError, FrameSplitter, MAX_FRAME_BYTES, decodeFrame, encodeFramePrefixed, type DeliveryV1, type FrameInit } from '@borealis/contracts';
import { deferred } from '@borealis/util';
import type { DeviceSession, SessionEffect, Step } from './device-session';

/** What a connection needs from the server that owns it. */
export interface ConnectionHost {
  /** Performs an effect other than `close` (routing, presence, publishing). */
  perform(connection: DeviceConnection, effect: Exclude<SessionEffect, { type: 'close' }>): void;
  closed(connection: DeviceConnection): void;
  now(): number;
}

/** After the server ends a connection, the peer has this long to close its side before the socket is destroyed. */
const CLOSE_GRACE_MS = 2000;
/** A device that does not read its socket is cut off rather than buffered without bound. */
const MAX_UNSENT_BYTES = 1024 * 1024;

/**
 * The socket adapter of one device session: splits and decodes the byte stream, feeds the session,
 * writes the frames it answers and hands its effects to the host. It holds no protocol rules.
 */
export class DeviceConnection {
  private readonly splitter = new FrameSplitter(MAX_FRAME_BYTES);
  private readonly closedSignal = deferred<void>();
  private closingSinceMs: number | null = null;

  constructor(
    private readonly socket: Socket,
    readonly session: DeviceSession,
    private readonly host: ConnectionHost,
    private readonly logger: Logger,
  ) {
    socket.on('data', (chunk: Buffer) => this.guard(() => this.onData(chunk)));
    socket.on('error', (err) => this.logger.debug({ msg: 'device socket error', deviceId: session.deviceId, error: err.message }));
    socket.on('close', () => this.guard(() => this.onClose()));
  }

  /** Resolves when the socket has closed. */
  get closed(): Promise<void> {
    return this.closedSignal.promise;
  }

  apply(step: Step): void {
    if (step.send.length > 0) this.write(step.send);
    for (const effect of step.effects) {
      if (effect.type === 'close') this.end();
      else this.host.perform(this, effect);
    }
  }

  /** Writes a Notification if this connection can take it; false means the device is not held here. */
  deliver(delivery: DeliveryV1): boolean {
    if (!this.socket.writable) return false;
    const step = this.session.deliver(delivery);
    return step !== null && this.write(step.send);
  }

  /** Called by the server's sweep timer. */
  tick(nowMs: number): void {
    if (this.closingSinceMs !== null) {
      if (nowMs - this.closingSinceMs >= CLOSE_GRACE_MS) this.socket.destroy();
      return;
    }
    this.guard(() => this.apply(this.session.onTick(nowMs)));
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
      this.apply(this.session.onFrameError(err.code, err.message));
      return;
    }
    for (const body of bodies) {
      if (!this.session.acceptsInput) return;
      let frame;
      try {
        frame = decodeFrame(body);
      } catch (err) {
        if (!(err instanceof FrameError)) throw err;
        this.apply(this.session.onFrameError(err.code, err.message));
        return;
      }
      this.apply(this.session.onFrame(frame, this.host.now()));
    }
  }

  private onClose(): void {
    this.host.closed(this);
    this.closedSignal.resolve();
    this.apply(this.session.onClosed());
  }

  private write(frames: FrameInit[]): boolean {
    if (!this.socket.writable) return false;
    this.socket.write(frames.length === 1 ? encodeFramePrefixed(frames[0]!) : Buffer.concat(frames.map(encodeFramePrefixed)));
    if (this.socket.writableLength > MAX_UNSENT_BYTES) {
      this.logger.warn({ msg: 'device does not read its socket; closing', deviceId: this.session.deviceId });
      this.socket.destroy();
      return false;
    }
    return true;
  }

  private end(): void {
    if (this.closingSinceMs !== null) return;
    this.closingSinceMs = this.host.now();
    this.socket.end();
  }

  /** No input may crash the process: a bug met on one connection costs that connection only. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.error({ msg: 'device connection handler failed', deviceId: this.session.deviceId, error: (err as Error).stack ?? String(err) });
      this.socket.destroy();
    }
  }
}
