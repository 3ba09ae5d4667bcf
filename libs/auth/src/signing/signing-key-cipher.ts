import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** Stored form: `v1.<nonce>.<ciphertext>.<tag>`, each part base64url. */
const FORMAT = 'v1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** The encryption key is not the one the stored signing keys were sealed with (or a row was altered). */
export class SigningKeyDecryptionError extends Error {
  constructor(kid: string) {
    super(
      `cannot decrypt access-token signing key ${kid}: the signing-key encryption key (SIGNING_KEY_ENCRYPTION_KEY, or ` +
        "signingKeyEncryptionKey in a standalone installation's secrets.json) is not the one it was encrypted with. " +
        'Restore that key; do not delete the stored signing keys, since a new signing key would invalidate every issued token (docs/security.md)',
    );
    this.name = 'SigningKeyDecryptionError';
  }
}

/**
 * Seals auth's access-token signing keys for storage: AES-256-GCM, a fresh 96-bit nonce per key,
 * and the key id as associated data, so a sealed key cannot be passed off as another row's. Whoever
 * reads the database without this key learns no private key and cannot forge tokens.
 */
export class SigningKeyCipher {
  private readonly key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error(`the signing-key encryption key must be 32 bytes (AES-256), not ${key.length}`);
    this.key = Buffer.from(key);
  }

  seal(kid: string, privateKeyPem: string): string {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce, { authTagLength: TAG_BYTES }).setAAD(Buffer.from(kid, 'utf8'));
    const sealed = Buffer.concat([cipher.update(privateKeyPem, 'utf8'), cipher.final()]);
    return [FORMAT, nonce, sealed, cipher.getAuthTag()].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
  }

  /** The PEM, or SigningKeyDecryptionError when this key did not seal it. */
  open(kid: string, stored: string): string {
    const [format, nonce, sealed, tag, ...rest] = stored.split('.');
    if (format !== FORMAT || nonce === undefined || sealed === undefined || tag === undefined || rest.length > 0) {
      throw new Error(`access-token signing key ${kid} is not in a known sealed format`);
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(nonce, 'base64url'), { authTagLength: TAG_BYTES })
        .setAAD(Buffer.from(kid, 'utf8'))
        .setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(sealed, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SigningKeyDecryptionError(kid);
    }
  }
}
