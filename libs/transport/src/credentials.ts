import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface IssuedCredentials {
  deviceId: string;
  secret: string;
}

const DEVICE_ID = /^[A-Za-z0-9_-]{22,64}$/;

/**
 * Device credentials without a database: the secret is an HMAC of the device id under a key that
 * every transport instance shares, so any instance verifies a device another one enrolled.
 */
export class CredentialAuthority {
  private readonly key: Buffer;

  constructor(credentialSecret: string) {
    if (credentialSecret.length < 32) throw new Error('the device credential secret must be at least 32 characters');
    this.key = Buffer.from(credentialSecret, 'utf8');
  }

  issue(): IssuedCredentials {
    const deviceId = randomBytes(16).toString('base64url');
    return { deviceId, secret: this.secretFor(deviceId) };
  }

  verify(deviceId: string, secret: string): boolean {
    if (!DEVICE_ID.test(deviceId)) return false;
    const expected = Buffer.from(this.secretFor(deviceId), 'utf8');
    const given = Buffer.from(secret, 'utf8');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private secretFor(deviceId: string): string {
    return createHmac('sha256', this.key).update(`device:v1:${deviceId}`).digest('base64url');
  }
}
