import { randomBytes } from 'node:crypto';
import { SigningKeyCipher, SigningKeyDecryptionError } from './signing-key-cipher';

describe('SigningKeyCipher', () => {
  const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n';
  const cipher = new SigningKeyCipher(randomBytes(32));

  it('round-trips a key and stores nothing of it in clear', () => {
    const sealed = cipher.seal('kid-1', pem);
    expect(sealed).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(sealed).not.toContain('PRIVATE KEY');
    expect(sealed).not.toContain('MIIEvQ');
    expect(cipher.open('kid-1', sealed)).toBe(pem);
    // A fresh nonce every time.
    expect(cipher.seal('kid-1', pem)).not.toBe(sealed);
  });

  it('refuses another encryption key with an error that says what to do', () => {
    const sealed = cipher.seal('kid-1', pem);
    const other = new SigningKeyCipher(randomBytes(32));
    expect(() => other.open('kid-1', sealed)).toThrow(SigningKeyDecryptionError);
    expect(() => other.open('kid-1', sealed)).toThrow(/SIGNING_KEY_ENCRYPTION_KEY.*Restore that key/);
  });

  it('refuses a sealed key moved to another row, or altered', () => {
    const sealed = cipher.seal('kid-1', pem);
    expect(() => cipher.open('kid-2', sealed)).toThrow(SigningKeyDecryptionError);
    const [format, nonce, body, tag] = sealed.split('.');
    const flipped = Buffer.from(body!, 'base64url');
    flipped[0] = flipped[0]! ^ 1;
    expect(() => cipher.open('kid-1', [format, nonce, flipped.toString('base64url'), tag].join('.'))).toThrow(SigningKeyDecryptionError);
    expect(() => cipher.open('kid-1', pem)).toThrow(/not in a known sealed format/);
  });

  it('takes only a 32-byte key', () => {
    expect(() => new SigningKeyCipher(randomBytes(16))).toThrow(/32 bytes/);
  });
});
