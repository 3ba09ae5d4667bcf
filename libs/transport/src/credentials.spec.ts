import { CredentialAuthority } from './credentials';

const authority = new CredentialAuthority('s'.repeat(32));

describe('CredentialAuthority', () => {
  it('issues a random 128-bit base64url device id with a secret that verifies', () => {
    const a = authority.issue();
    const b = authority.issue();
    expect(a.deviceId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(a.deviceId, 'base64url')).toHaveLength(16);
    expect(a.deviceId).not.toBe(b.deviceId);
    expect(authority.verify(a.deviceId, a.secret)).toBe(true);
  });

  it('verifies on any instance that shares the key, and on none with another key', () => {
    const issued = authority.issue();
    expect(new CredentialAuthority('s'.repeat(32)).verify(issued.deviceId, issued.secret)).toBe(true);
    expect(new CredentialAuthority('t'.repeat(32)).verify(issued.deviceId, issued.secret)).toBe(false);
  });

  it('refuses a secret of another device, a altered secret and malformed ids', () => {
    const a = authority.issue();
    const b = authority.issue();
    expect(authority.verify(a.deviceId, b.secret)).toBe(false);
    expect(authority.verify(a.deviceId, `${a.secret.slice(0, -1)}${a.secret.endsWith('A') ? 'B' : 'A'}`)).toBe(false);
    expect(authority.verify(a.deviceId, `${a.secret}=`)).toBe(false);
    expect(authority.verify(a.deviceId, '')).toBe(false);
    expect(authority.verify('short', a.secret)).toBe(false);
    expect(authority.verify(`${a.deviceId}!`, a.secret)).toBe(false);
  });

  it('refuses a key shorter than 32 characters', () => {
    expect(() => new CredentialAuthority('x'.repeat(31))).toThrow(/32/);
  });
});
