import { clearedSessionCookie, readCookie, sessionCookie } from './console-cookie';

describe('the console session cookie', () => {
  it('reads one cookie out of a Cookie header, whatever the spacing, the first occurrence winning', () => {
    expect(readCookie('a=1; borealis_session=bcs_x; b=2', 'borealis_session')).toBe('bcs_x');
    expect(readCookie('borealis_session=bcs_first;borealis_session=bcs_second', 'borealis_session')).toBe('bcs_first');
    expect(readCookie('  borealis_session = "bcs_q" ', 'borealis_session')).toBe('bcs_q');
    expect(readCookie('xborealis_session=no; borealis_sessionx=no', 'borealis_session')).toBeUndefined();
    expect(readCookie('novalue; other=1', 'borealis_session')).toBeUndefined();
    expect(readCookie(undefined, 'borealis_session')).toBeUndefined();
    expect(readCookie('', 'borealis_session')).toBeUndefined();
  });

  it('is HttpOnly, SameSite=Strict, scoped to /auth/admin, with the seconds left, Secure only when asked', () => {
    expect(sessionCookie('bcs_t', 3599.7, false)).toBe('borealis_session=bcs_t; HttpOnly; SameSite=Strict; Path=/auth/admin; Max-Age=3599');
    expect(sessionCookie('bcs_t', 60, true)).toBe('borealis_session=bcs_t; HttpOnly; SameSite=Strict; Path=/auth/admin; Max-Age=60; Secure');
    expect(sessionCookie('bcs_t', -5, false)).toContain('Max-Age=0');
  });

  it('is cleared with an empty value and Max-Age=0', () => {
    expect(clearedSessionCookie(true)).toBe('borealis_session=; HttpOnly; SameSite=Strict; Path=/auth/admin; Max-Age=0; Secure');
  });
});
