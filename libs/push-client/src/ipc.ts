/**
 * The local IPC between apps and `borealis push-daemon` (docs/device.md, "IPC contract"): a Unix
 * domain stream socket; each message is a frame of a 4-byte big-endian length and that many bytes
 * of one UTF-8 JSON object. This module has no dependencies so that the daemon and every client
 * share it; the C library (libpushclient) implements the same contract.
 */

/** Version of this contract, sent by the daemon in its `hello` event. */
export const IPC_VERSION = 1;
/** Largest frame body the daemon accepts from an app; a larger length closes the connection. */
export const MAX_IPC_FRAME_BYTES = 64 * 1024;
/**
 * Largest frame body the daemon sends. One push (at most a 64 KiB device-protocol frame) can grow
 * up to six times in JSON (control characters become \u00XX), so a frame from the daemon may be
 * larger than one to it; the daemon splits a batch of pushes over several frames below this.
 */
export const MAX_DAEMON_FRAME_BYTES = 512 * 1024;
export const DEFAULT_SOCKET_PATH = '/run/borealis-push/daemon.sock';
/** Environment variable that overrides the socket path, for clients and the daemon. */
export const SOCKET_ENV = 'BOREALIS_PUSH_SOCKET';

/** App → daemon. `id` is chosen by the client (1 … 2^31-1) and echoed in the reply. */
export type IpcRequest =
  | { id: number; op: 'setApplicationId'; applicationId: string }
  | { id: number; op: 'registrate' }
  | { id: number; op: 'unregister' };
export type IpcOp = IpcRequest['op'];

/** Why a request failed or what was wrong with a frame. */
export interface IpcError {
  code: string;
  message: string;
}

/** Daemon → app: the answer to one request. */
export type IpcReply = { reply: number; ok: true; registrationId?: string } | { reply: number; ok: false; error: IpcError };

/** One notification as it travels over the IPC (times in milliseconds since the epoch). */
export interface IpcPush {
  id: string;
  applicationId: string;
  title: string;
  message: string;
  /** The app server's data object as JSON text, '' when none. */
  data: string;
  sentAtMs: number;
  expiresAtMs: number;
}

/** Daemon → app, unrequested. */
export type IpcEvent =
  | { event: 'hello'; version: number; ready: boolean; uid: number }
  | { event: 'readiness'; ready: boolean }
  | { event: 'notifications'; pushList: IpcPush[] }
  | { event: 'registrationId'; registrationId: string }
  | { event: 'registrationError'; error: IpcError }
  | { event: 'clientInactive' }
  /** A frame the daemon could not take; `id` when it could tell which request. */
  | { event: 'error'; error: IpcError; id?: number };

export type IpcFromDaemon = IpcReply | IpcEvent;

export class IpcFrameError extends Error {
  constructor(
    readonly code: 'frame_too_large' | 'bad_frame',
    message: string,
  ) {
    super(message);
    this.name = 'IpcFrameError';
  }
}

export function encodeIpcFrame(message: object, maxBytes = MAX_IPC_FRAME_BYTES): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  if (body.length > maxBytes) throw new IpcFrameError('frame_too_large', `message of ${body.length} bytes exceeds ${maxBytes}`);
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

/**
 * Splits a byte stream into frame bodies. A declared length above the limit throws before the
 * body is buffered, so a peer cannot make the reader allocate; the stream cannot be resynchronised
 * after that and must be closed.
 */
export class IpcFrameReader {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly maxBytes = MAX_IPC_FRAME_BYTES) {}

  push(chunk: Buffer): Buffer[] {
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const bodies: Buffer[] = [];
    while (buf.length >= 4) {
      const length = buf.readUInt32BE(0);
      if (length > this.maxBytes) throw new IpcFrameError('frame_too_large', `frame of ${length} bytes exceeds ${this.maxBytes}`);
      if (buf.length < 4 + length) break;
      bodies.push(buf.subarray(4, 4 + length));
      buf = buf.subarray(4 + length);
    }
    // Copy the remainder so that a small leftover does not pin a large chunk.
    this.pending = Buffer.from(buf);
    return bodies;
  }
}

/** Parses a frame body as a JSON object; throws IpcFrameError('bad_frame') otherwise. */
export function parseIpcBody(body: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new IpcFrameError('bad_frame', `not JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new IpcFrameError('bad_frame', 'a frame must hold one JSON object');
  return value as Record<string, unknown>;
}
