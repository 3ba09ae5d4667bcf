/** The console's session cookie (docs/auth.md, "Console sessions"): HttpOnly, SameSite=Strict, scoped to the management API. */
export const SESSION_COOKIE = 'borealis_session';
export const SESSION_COOKIE_PATH = '/auth/admin';

/**
 * The value of cookie `name` in a `Cookie` header, or undefined. Parsed by hand (RFC 6265 §5.4:
 * `name=value` pairs separated by `; `); the first occurrence wins, as browsers send the most
 * specific path first. A value in double quotes is unquoted.
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
  }
  return undefined;
}

/** `Set-Cookie` for a session token that lives `maxAgeSeconds` more; `secure` over HTTPS. */
export function sessionCookie(token: string, maxAgeSeconds: number, secure: boolean): string {
  const attributes = [`${SESSION_COOKIE}=${token}`, 'HttpOnly', 'SameSite=Strict', `Path=${SESSION_COOKIE_PATH}`, `Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}`];
  if (secure) attributes.push('Secure');
  return attributes.join('; ');
}

/** `Set-Cookie` that makes the browser drop the session cookie. */
export function clearedSessionCookie(secure: boolean): string {
  return sessionCookie('', 0, secure);
}
