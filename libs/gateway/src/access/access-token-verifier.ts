import { DomainError, ErrorCode } from '@borealis/contracts';
import type { Clock } from '@borealis/util';
import { errors, jwtVerify, type JWTHeaderParameters, type JWTPayload, type JWTVerifyGetKey, type FlattenedJWSInput } from 'jose';

/** Who an access token speaks for. */
export interface AccessPrincipal {
  projectId: string;
  /** The service account (`sub`). */
  clientId: string;
  /** The service-account key the token was obtained with (`client_key_id`), when auth names it. */
  keyId: string | null;
  scopes: ReadonlySet<string>;
}

export interface AccessTokenExpectations {
  issuer: string;
  audience: string;
}

const CLOCK_SKEW_SECONDS = 30;
/** Verified tokens remembered at once; app servers reuse one token for its whole lifetime. */
const CACHE_MAX_ENTRIES = 10_000;

/**
 * Verifies auth's access tokens offline: RS256 only, signature against auth's JWKS (the key getter
 * caches it and refetches on an unknown `kid`), `iss`, `aud`, `exp` with a small skew, and the
 * `project_id` and `scope` claims. A bad token is `unauthenticated`; a key set that cannot be
 * fetched is `unavailable`, because the token may well be valid.
 *
 * A verified token is remembered (keyed by its full text, signature included) until it expires, so
 * that the RSA verification runs once per token rather than once per request; revocation is checked
 * per request elsewhere, from the registry view.
 */
export class AccessTokenVerifier {
  private readonly verified = new Map<string, { principal: AccessPrincipal; expiresAtMs: number }>();

  constructor(
    private readonly keys: JWTVerifyGetKey,
    private readonly expected: AccessTokenExpectations,
    private readonly clock: Clock,
  ) {}

  /** The principal of a token verified before and not expired yet; undefined otherwise (no error). */
  remembered(authorization: string | undefined): AccessPrincipal | undefined {
    if (!authorization?.startsWith('Bearer ')) return undefined;
    const known = this.verified.get(authorization.slice(7).trim());
    return known && this.clock.now() < known.expiresAtMs ? known.principal : undefined;
  }

  async verify(authorization: string | undefined): Promise<AccessPrincipal> {
    const token = bearerToken(authorization);
    const known = this.verified.get(token);
    if (known) {
      if (this.clock.now() < known.expiresAtMs) return known.principal;
      this.verified.delete(token);
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, (header, jws) => this.resolveKey(header, jws), {
        algorithms: ['RS256'],
        issuer: this.expected.issuer,
        audience: this.expected.audience,
        clockTolerance: CLOCK_SKEW_SECONDS,
        currentDate: new Date(this.clock.now()),
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      if (err instanceof errors.JOSEError) throw unauthenticated(describe(err));
      throw err;
    }
    const projectId = payload['project_id'];
    const scope = payload['scope'];
    if (typeof projectId !== 'string' || projectId === '') throw unauthenticated('the access token carries no project_id');
    if (typeof scope !== 'string') throw unauthenticated('the access token carries no scope');
    const keyId = payload['client_key_id'];
    if (keyId !== undefined && (typeof keyId !== 'string' || keyId === '')) throw unauthenticated('the access token carries an invalid client_key_id');
    const principal: AccessPrincipal = { projectId, clientId: payload.sub ?? '', keyId: keyId ?? null, scopes: new Set(scope.split(' ').filter(Boolean)) };
    this.remember(token, principal, payload.exp! * 1000 + CLOCK_SKEW_SECONDS * 1000);
    return principal;
  }

  private remember(token: string, principal: AccessPrincipal, expiresAtMs: number): void {
    // Oldest first (insertion order): a full cache drops the earliest remembered token.
    if (this.verified.size >= CACHE_MAX_ENTRIES) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, { principal, expiresAtMs });
  }

  private async resolveKey(header: JWTHeaderParameters, jws: FlattenedJWSInput) {
    try {
      return await this.keys(header, jws);
    } catch (err) {
      if (isTokenFault(err)) throw err;
      throw new DomainError(ErrorCode.Unavailable, 'the access token cannot be verified now: the signing keys are unavailable; retry', {
        retryAfterSeconds: 1,
      });
    }
  }
}

function bearerToken(authorization: string | undefined): string {
  if (!authorization) throw unauthenticated('missing access token: send Authorization: Bearer <access token>');
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
  if (!match) throw unauthenticated('the Authorization header is not "Bearer <access token>"');
  return match[1]!;
}

/** Errors of the key lookup that describe the token (unknown kid), not the key source. */
function isTokenFault(err: unknown): boolean {
  return (
    err instanceof errors.JWKSNoMatchingKey ||
    err instanceof errors.JWKSMultipleMatchingKeys ||
    err instanceof errors.JOSENotSupported ||
    err instanceof errors.JWSInvalid
  );
}

function describe(err: errors.JOSEError): string {
  if (err instanceof errors.JWTExpired) return 'the access token has expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `the access token's ${err.claim} claim is invalid (${err.reason})`;
  if (err instanceof errors.JWKSNoMatchingKey) return 'the access token is signed with an unknown key';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the access token signature does not verify';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'the access token is not signed with RS256';
  return 'the access token is malformed';
}

function unauthenticated(message: string): DomainError {
  return new DomainError(ErrorCode.Unauthenticated, message);
}
