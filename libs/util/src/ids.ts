import { randomBytes } from 'node:crypto';

/**
 * UUID version 7 (RFC 9562): 48-bit millisecond timestamp then 74 random bits, so ids sort by
 * creation time. Used for message ids.
 */
export function uuidv7(nowMs: number = Date.now()): string {
  const b = Buffer.allocUnsafe(16);
  takeRandom(b, 6);
  b.writeUIntBE(nowMs, 0, 6);
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export function isUuid(text: string): boolean {
  return UUID.test(text);
}

/** An unguessable opaque token: `bytes` random bytes, base64url, with an optional prefix. */
export function randomToken(bytes = 16, prefix = ''): string {
  return prefix + randomBytes(bytes).toString('base64url');
}

// Random bytes drawn 4 KiB at a time: one system call per 400 ids on the send path, not per id.
const POOL_SIZE = 4096;
let pool: Buffer = Buffer.alloc(0);
let poolOffset = 0;

/** Fills `into` from `from` to its end with cryptographically random bytes. */
function takeRandom(into: Buffer, from: number): void {
  const need = into.length - from;
  if (poolOffset + need > pool.length) {
    pool = randomBytes(POOL_SIZE);
    poolOffset = 0;
  }
  pool.copy(into, from, poolOffset, poolOffset + need);
  poolOffset += need;
}
