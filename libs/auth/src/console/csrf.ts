import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/** The request header that carries a cookie session's CSRF token. */
export const CSRF_HEADER = 'x-csrf-token';

/** Methods that change nothing: a cookie request with any other method needs the CSRF token. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * CSRF tokens of cookie sessions: HMAC-SHA256 of the session token under a server key, so that a
 * page on another origin, which can make the browser send the cookie but cannot read it or any
 * answer, cannot compute it, and the server keeps nothing per session (every replica derives the
 * same token). The key is derived (HKDF) from the installation's signing-key encryption key, which
 * every auth replica holds: no further secret to configure, and no use of that key for anything
 * but its own purpose (domain separation by the HKDF info).
 */
export class CsrfTokens {
  private readonly key: Buffer;

  constructor(masterKey: Buffer) {
    this.key = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'borealis console csrf v1', 32));
  }

  tokenFor(sessionToken: string): string {
    return createHmac('sha256', this.key).update(sessionToken, 'utf8').digest('base64url');
  }

  /** Whether `candidate` is the session's token, compared in constant time. */
  matches(sessionToken: string, candidate: string | undefined): boolean {
    if (typeof candidate !== 'string') return false;
    const expected = Buffer.from(this.tokenFor(sessionToken), 'utf8');
    const given = Buffer.from(candidate, 'utf8');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
