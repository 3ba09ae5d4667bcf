import { CsrfTokens } from './csrf';

describe('CsrfTokens', () => {
  const key = Buffer.alloc(32, 1);

  it('derives one token per session token, the same on every replica with the same key', () => {
    const a = new CsrfTokens(key);
    const b = new CsrfTokens(Buffer.from(key));
    expect(a.tokenFor('bcs_one')).toBe(b.tokenFor('bcs_one'));
    expect(a.tokenFor('bcs_one')).not.toBe(a.tokenFor('bcs_two'));
    expect(a.tokenFor('bcs_one')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('is not the session token, nor computable without the key', () => {
    expect(new CsrfTokens(key).tokenFor('bcs_one')).not.toContain('bcs_one');
    expect(new CsrfTokens(Buffer.alloc(32, 2)).tokenFor('bcs_one')).not.toBe(new CsrfTokens(key).tokenFor('bcs_one'));
  });

  it("accepts exactly the session's token", () => {
    const csrf = new CsrfTokens(key);
    const token = csrf.tokenFor('bcs_one');
    expect(csrf.matches('bcs_one', token)).toBe(true);
    expect(csrf.matches('bcs_two', token)).toBe(false);
    expect(csrf.matches('bcs_one', token.slice(0, -1))).toBe(false);
    expect(csrf.matches('bcs_one', `${token}x`)).toBe(false);
    expect(csrf.matches('bcs_one', '')).toBe(false);
    expect(csrf.matches('bcs_one', undefined)).toBe(false);
  });
});
