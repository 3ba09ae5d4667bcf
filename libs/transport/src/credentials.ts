import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface IssuedCredentials {
  deviceId: string;
  secret: string;
}

/** `valid`: accept. `renew`: accept and hand the device fresh credentials. `invalid`: refuse. */
export type CredentialCheck = 'valid' | 'renew' | 'invalid';

export interface CredentialPolicy {
  /** The HMAC key new secrets are signed with; at least 32 characters, the same on every instance. */
  secret: string;
  /** Keys of earlier rotations: still accepted, and a device presenting one gets fresh credentials. */
  previousSecrets?: readonly string[];
  /** Secrets older than this are refused; at half of it the device is given fresh ones. */
  maxAgeMs: number;
}

const DEVICE_ID = /^[A-Za-z0-9_-]{22,64}$/;
const SECRET = /^([0-9a-z]{1,11})\.([A-Za-z0-9_-]{43})$/;
/** A device clock ahead of ours must not make a just-issued secret look like it comes from the future. */
const FUTURE_SKEW_MS = 5 * 60_000;

/**
 * Device credentials without a database: the secret is `<issued-at>.<HMAC(key, device id, issued-at)>`
 * under a key that every transport instance shares, so any instance verifies a device another one
 * enrolled. Rotation needs no storage either: a device asks for a fresh secret (same device id);
 * secrets expire after `maxAgeMs`; the server key itself rotates by moving the old key to
 * `previousSecrets`, which keeps old secrets valid until their devices have been renewed.
 */
export class CredentialAuthority {
  private readonly keys: Buffer[];

  constructor(private readonly policy: CredentialPolicy) {
    const all = [policy.secret, ...(policy.previousSecrets ?? [])];
    if (all.some((key) => key.length < 32)) throw new Error('device credential secrets must be at least 32 characters');
    if (!(policy.maxAgeMs > 0)) throw new Error('the device credential lifetime must be positive');
    this.keys = all.map((key) => Buffer.from(key, 'utf8'));
  }

  /** Fresh credentials: a new device id, or a new secret for `deviceId` (rotation). */
  issue(nowMs: number, deviceId = randomBytes(16).toString('base64url')): IssuedCredentials {
    const issuedAt = Math.floor(nowMs / 1000).toString(36);
    return { deviceId, secret: `${issuedAt}.${mac(this.keys[0]!, deviceId, issuedAt)}` };
  }

  verify(deviceId: string, secret: string, nowMs: number): CredentialCheck {
    if (!DEVICE_ID.test(deviceId)) return 'invalid';
    const parts = SECRET.exec(secret);
    if (!parts) return 'invalid';
    const issuedAt = parts[1]!;
    const ageMs = nowMs - parseInt(issuedAt, 36) * 1000;
    if (ageMs > this.policy.maxAgeMs || ageMs < -FUTURE_SKEW_MS) return 'invalid';
    const given = Buffer.from(parts[2]!, 'utf8');
    for (let i = 0; i < this.keys.length; i++) {
      const expected = Buffer.from(mac(this.keys[i]!, deviceId, issuedAt), 'utf8');
      if (given.length === expected.length && timingSafeEqual(given, expected)) {
        return i > 0 || ageMs > this.policy.maxAgeMs / 2 ? 'renew' : 'valid';
      }
    }
    return 'invalid';
  }
}

function mac(key: Buffer, deviceId: string, issuedAt: string): string {
  return createHmac('sha256', key).update(`device:v1:${deviceId}:${issuedAt}`).digest('base64url');
}
