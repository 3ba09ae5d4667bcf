import { borealis } from './generated/device';

/** The generated protobuf classes of the device protocol (source: proto/device.proto). */
export const DeviceProtocol = borealis.device.v1;
export type Frame = borealis.device.v1.Frame;
export type FrameInit = borealis.device.v1.IFrame;
export type FrameKind = NonNullable<Frame['kind']>;
export const DeviceErrorCode = borealis.device.v1.ErrorCode;
export type DeviceErrorCode = borealis.device.v1.ErrorCode;

/** The highest device protocol version; 2 added the device's local user to Register. */
export const PROTOCOL_VERSION = 2;
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

/**
 * Splits a TCP byte stream into frame bodies (varint length prefix). Feed it chunks as they
 * arrive; it returns the complete bodies and keeps the remainder. It refuses a declared length
 * above `maxFrameBytes` before buffering it, so a hostile peer cannot make it allocate.
 */
export class FrameSplitter {
  private pending: Buffer | null = null;

  constructor(private readonly maxFrameBytes = MAX_FRAME_BYTES) {}

  push(chunk: Buffer): Buffer[] {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    const frames: Buffer[] = [];
    let offset = 0;
    for (;;) {
      let length = 0;
      let shift = 0;
      let pos = offset;
      let complete = false;
      while (pos < buf.length) {
        const byte = buf[pos++]!;
        length += (byte & 0x7f) * 2 ** shift;
        shift += 7;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
        if (shift > 28) throw new FrameError(DeviceErrorCode.FRAME_TOO_LARGE, 'frame length prefix too long');
      }
      if (!complete) break;
      if (length > this.maxFrameBytes) {
        throw new FrameError(DeviceErrorCode.FRAME_TOO_LARGE, `frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes}`);
      }
      if (buf.length - pos < length) break;
      frames.push(buf.subarray(pos, pos + length));
      offset = pos + length;
    }
    this.pending = offset < buf.length ? Buffer.from(buf.subarray(offset)) : null;
    return frames;
  }

  /** Bytes received but not yet forming a whole frame. */
  get bufferedBytes(): number {
    return this.pending?.length ?? 0;
  }
}
