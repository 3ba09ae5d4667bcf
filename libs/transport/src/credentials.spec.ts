import { CredentialAuthority } from './credentials';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 0, 1);
const policy = { secret: 's'.repeat(32), maxAgeMs: 30 * DAY };
const authority = new CredentialAuthority(policy);

describe('CredentialAuthority', () => {
  it('issues a random 128-bit base64url device id with a secret that verifies', () => {
    const a = authority.issue(NOW);
    const b = authority.issue(NOW);
    expect(a.deviceId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(a.deviceId, 'base64url')).toHaveLength(16);
    expect(a.deviceId).not.toBe(b.deviceId);
    expect(authority.verify(a.deviceId, a.secret, NOW)).toBe('valid');
  });

  it('verifies on any instance that shares the key, and on none with another key', () => {
    const issued = authority.issue(NOW);
    expect(new CredentialAuthority(policy).verify(issued.deviceId, issued.secret, NOW)).toBe('valid');
    expect(new CredentialAuthority({ ...policy, secret: 't'.repeat(32) }).verify(issued.deviceId, issued.secret, NOW)).toBe('invalid');
  });

  it('refuses a secret of another device, an altered secret, a forged issue time and malformed ids', () => {
    const a = authority.issue(NOW);
    const b = authority.issue(NOW);
    expect(authority.verify(a.deviceId, b.secret, NOW)).toBe('invalid');
    expect(authority.verify(a.deviceId, `${a.secret.slice(0, -1)}${a.secret.endsWith('A') ? 'B' : 'A'}`, NOW)).toBe('invalid');
    expect(authority.verify(a.deviceId, `${a.secret}=`, NOW)).toBe('invalid');
    const [, mac] = a.secret.split('.');
    expect(authority.verify(a.deviceId, `${Math.floor((NOW + DAY) / 1000).toString(36)}.${mac}`, NOW + DAY)).toBe('invalid');
    expect(authority.verify(a.deviceId, '', NOW)).toBe('invalid');
    expect(authority.verify('short', a.secret, NOW)).toBe('invalid');
    expect(authority.verify(`${a.deviceId}!`, a.secret, NOW)).toBe('invalid');
  });

  it('rotation: a fresh secret for the same device verifies, the old one until it expires; renewal is advised at half-life', () => {
    const first = authority.issue(NOW);
    const rotated = authority.issue(NOW + DAY, first.deviceId);
    expect(rotated.deviceId).toBe(first.deviceId);
    expect(rotated.secret).not.toBe(first.secret);
    expect(authority.verify(first.deviceId, rotated.secret, NOW + DAY)).toBe('valid');
    expect(authority.verify(first.deviceId, first.secret, NOW + 16 * DAY)).toBe('renew');
    expect(authority.verify(first.deviceId, first.secret, NOW + 31 * DAY)).toBe('invalid');
    expect(authority.verify(first.deviceId, first.secret, NOW - 10 * 60_000)).toBe('invalid');
  });

  it('server key rotation: secrets under a previous key are accepted and renewed', () => {
    const old = authority.issue(NOW);
    const next = new CredentialAuthority({ ...policy, secret: 'n'.repeat(32), previousSecrets: [policy.secret] });
    expect(next.verify(old.deviceId, old.secret, NOW)).toBe('renew');
    expect(next.verify(old.deviceId, next.issue(NOW, old.deviceId).secret, NOW)).toBe('valid');
  });

  it('refuses a key shorter than 32 characters', () => {
    expect(() => new CredentialAuthority({ ...policy, secret: 'x'.repeat(31) })).toThrow(/32/);
    expect(() => new CredentialAuthority({ ...policy, previousSecrets: ['y'] })).toThrow(/32/);
  });
});
