import { borealis } from './generated/device';

/** The generated protobuf classes of the device protocol (source: proto/device.proto). */
export const DeviceProtocol = borealis.device.v1;
export type Frame = borealis.device.v1.Frame;
export type FrameInit = borealis.device.v1.IFrame;
export type FrameKind = NonNullable<Frame['kind']>;
export const DeviceErrorCode = borealis.device.v1.ErrorCode;
export type DeviceErrorCode = borealis.device.v1.ErrorCode;

/**
 * The highest device protocol version: 2 added the device's local user to Register; 3 added the
 * Notifications frame (several notifications in one frame), which a server sends only to devices
 * that negotiated 3 or higher.
 */
export const PROTOCOL_VERSION = 3;
/** The first version whose devices take the Notifications frame. */
export const NOTIFICATIONS_FRAME_VERSION = 3;
/** The lowest version this code still speaks: version 1 devices are served as single-user devices. */
export const MIN_PROTOCOL_VERSION = 1;
/** Largest encoded frame either side accepts; larger frames are refused with FRAME_TOO_LARGE. */
export const MAX_FRAME_BYTES = 64 * 1024;

export function encodeFrame(frame: FrameInit): Uint8Array {
  return DeviceProtocol.Frame.encode(frame).finish();
}

/** Decodes one frame body. Throws FrameError on bytes that are not a valid frame. */
export function decodeFrame(bytes: Uint8Array): Frame {
  let frame: Frame;
  try {
    frame = DeviceProtocol.Frame.decode(bytes);
  } catch (err) {
    throw new FrameError(DeviceErrorCode.MALFORMED_FRAME, `malformed frame: ${(err as Error).message}`);
  }
  if (!frame.kind) throw new FrameError(DeviceErrorCode.MALFORMED_FRAME, 'frame carries no known kind');
  return frame;
}

export class FrameError extends Error {
  constructor(
    readonly code: DeviceErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'FrameError';
  }
}

/** Prefixes an encoded frame with its length as a protobuf varint (the TCP framing). */
export function lengthPrefixed(body: Uint8Array): Buffer {
  let n = body.length;
  const header: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    header.push(byte);
  } while (n !== 0);
  const out = Buffer.allocUnsafe(header.length + body.length);
  for (let i = 0; i < header.length; i++) out[i] = header[i]!;
  out.set(body, header.length);
  return out;
}

export function encodeFramePrefixed(frame: FrameInit): Buffer {
  return lengthPrefixed(encodeFrame(frame));
}

/** A varint length prefix ends within this many bytes, or the frame is refused. */
const MAX_PREFIX_BYTES = 5;
/** First capacity of the buffer that collects a frame arriving in pieces. */
const INITIAL_HOLD_BYTES = 256;

/**
 * Splits a TCP byte stream into frame bodies (varint length prefix). Feed it chunks as they
 * arrive; it returns the complete bodies and keeps the remainder. It refuses a declared length
 * above `maxFrameBytes` before buffering it, so a hostile peer cannot make it allocate.
 *
 * Whole frames in a chunk are returned as views of it, without a copy. A frame that arrives in
 * pieces is collected in a buffer that doubles as it fills, up to the declared length, so each of
 * its bytes is copied a bounded number of times however finely it is split: a frame trickled one
 * byte at a time costs linear work, not quadratic, and memory grows with what was received rather
 * than with what was declared.
 */
export class FrameSplitter {
  /** The incomplete frame (prefix and what arrived of its body) is `held[0, heldBytes)`. */
  private held: Buffer | null = null;
  private heldBytes = 0;
  /** Prefix plus body length of the held frame; 0 while its prefix is incomplete. */
  private frameBytes = 0;
  private bodyStart = 0;

  constructor(private readonly maxFrameBytes = MAX_FRAME_BYTES) {}

  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    let offset = 0;
    if (this.heldBytes > 0) {
      offset = this.fill(chunk, frames);
      if (offset === chunk.length) return frames;
    }
    this.split(chunk, offset, frames);
    return frames;
  }

  /** Bytes received but not yet forming a whole frame. */
  get bufferedBytes(): number {
    return this.heldBytes;
  }

  /** Adds the start of `chunk` to the held frame; returns how many of its bytes it took. */
  private fill(chunk: Buffer, frames: Buffer[]): number {
    if (this.frameBytes === 0) {
      // Fewer than MAX_PREFIX_BYTES are held: read the prefix over them and the chunk's first bytes.
      const head = Buffer.concat([this.held!.subarray(0, this.heldBytes), chunk.subarray(0, MAX_PREFIX_BYTES)]);
      const prefix = this.readPrefix(head, 0);
      if (prefix === null) {
        this.hold(chunk);
        return chunk.length;
      }
      this.bodyStart = prefix.bodyStart;
      this.frameBytes = prefix.bodyStart + prefix.length;
    }
    const taken = Math.min(chunk.length, this.frameBytes - this.heldBytes);
    this.hold(chunk.subarray(0, taken));
    if (this.heldBytes === this.frameBytes) {
      frames.push(this.held!.subarray(this.bodyStart, this.frameBytes));
      // The frame handed out is a view of `held`: the next frame gets a buffer of its own.
      this.held = null;
      this.heldBytes = 0;
      this.frameBytes = 0;
    }
    return taken;
  }

  /** Whole frames of `buf` from `offset` on, as views of it; a trailing partial frame is held. */
  private split(buf: Buffer, offset: number, frames: Buffer[]): void {
    while (offset < buf.length) {
      const prefix = this.readPrefix(buf, offset);
      if (prefix === null) break;
      if (buf.length - prefix.bodyStart < prefix.length) {
        this.bodyStart = prefix.bodyStart - offset;
        this.frameBytes = this.bodyStart + prefix.length;
        break;
      }
      frames.push(buf.subarray(prefix.bodyStart, prefix.bodyStart + prefix.length));
      offset = prefix.bodyStart + prefix.length;
    }
    if (offset < buf.length) this.hold(buf.subarray(offset));
  }

  /** The varint length prefix at `offset`, or null if `buf` ends inside it. Refuses what is too long. */
  private readPrefix(buf: Buffer, offset: number): { length: number; bodyStart: number } | null {
    let length = 0;
    let shift = 0;
    let pos = offset;
    while (pos < buf.length) {
      const byte = buf[pos++]!;
      length += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if ((byte & 0x80) === 0) {
        if (length > this.maxFrameBytes) {
          throw new FrameError(DeviceErrorCode.FRAME_TOO_LARGE, `frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes}`);
        }
        return { length, bodyStart: pos };
      }
      if (shift >= 7 * MAX_PREFIX_BYTES) throw new FrameError(DeviceErrorCode.FRAME_TOO_LARGE, 'frame length prefix too long');
    }
    return null;
  }

  /**
   * Appends bytes to the held frame, copying them: the caller's chunk is not kept alive. Capacity
   * doubles, capped at the frame's size once its prefix is known, so copies stay linear.
   */
  private hold(bytes: Buffer): void {
    const needed = this.heldBytes + bytes.length;
    if (this.held === null || this.held.length < needed) {
      const cap = this.frameBytes > 0 ? this.frameBytes : MAX_PREFIX_BYTES;
      let size = Math.max(INITIAL_HOLD_BYTES, 2 * (this.held?.length ?? 0));
      // Within a doubling of the whole frame: take all of it rather than grow once more for its last bytes.
      if (2 * size > cap) size = cap;
      const grown = Buffer.allocUnsafe(Math.max(needed, size));
      this.held?.copy(grown, 0, 0, this.heldBytes);
      this.held = grown;
    }
    bytes.copy(this.held, this.heldBytes);
    this.heldBytes = needed;
  }
}
