import { Logger } from '@nestjs/common';
import { CONSOLE_SEND_SCOPE, CONSOLE_SEND_TOKEN_TTL_SECONDS, CONSOLE_SEND_TOKEN_TYPE, DomainError, ErrorCode } from '@borealis/contracts';
import type { Clock } from '@borealis/util';
import { errors, jwtVerify, type JWTHeaderParameters, type JWTPayload, type JWTVerifyGetKey, type FlattenedJWSInput } from 'jose';

/** Who an access token speaks for. */
export interface AccessPrincipal {
  /**
   * `client`: an app server's access token (a service account's key). `console-send`: auth's
   * 60-second token for one test send from the console, good on the send route only
   * (libs/contracts, console-send.ts; docs/security.md, "Console send tokens").
   */
  kind: 'client' | 'console-send';
  projectId: string;
  /** The service account (`sub`); for a console send token `console:<account id>` or `console:operator`. */
  clientId: string;
  /** The service-account key the token was obtained with (`client_key_id`): revoking it ends the token. Empty for a console send token. */
  keyId: string;
  scopes: ReadonlySet<string>;
}

export interface AccessTokenExpectations {
  issuer: string;
  audience: string;
  /** auth's access-token lifetime (`ACCESS_TOKEN_TTL_SECONDS`): no token auth issues lives longer. */
  accessTokenTtlSeconds: number;
}

const CLOCK_SKEW_SECONDS = 30;
/** Verified tokens remembered at once; app servers reuse one token for its whole lifetime. */
const CACHE_MAX_ENTRIES = 10_000;

/** What the client is told when a validly signed token is not one auth would issue; the log says why. */
const NOT_VALID = 'the access token is not valid';

/**
 * Verifies auth's access tokens offline: RS256 only, signature against auth's JWKS (the key getter
 * caches it and refetches on an unknown `kid`), `iss`, `aud`, `exp` with a small skew, and the
 * `project_id` and `scope` claims. A bad token is `unauthenticated`; a key set that cannot be
 * fetched is `unavailable`, because the token may well be valid.
 *
 * A signature alone is not enough: a token must also look like one auth issues, with `iat` and
 * `exp` no further apart (and `exp` no further ahead) than auth's token lifetime plus the skew, and
 * with the `sub` and `client_key_id` that the registry view checks revocation against. Otherwise a
 * token minted with a leaked or misused signing key could live for years and outlast the
 * revocation of every service-account key. Those refusals do not tell the client which check
 * failed (the log does).
 *
 * A verified token is remembered (keyed by its full text, signature included) until it expires, so
 * that the RSA verification runs once per token rather than once per request; revocation is checked
 * per request elsewhere, from the registry view.
 */
export class AccessTokenVerifier {
  private readonly verified = new Map<string, { principal: AccessPrincipal; expiresAtMs: number }>();
  private readonly logger = new Logger(AccessTokenVerifier.name);

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
    let typ: string | undefined;
    try {
      ({ payload, protectedHeader: { typ } } = await jwtVerify(token, (header, jws) => this.resolveKey(header, jws), {
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
    const consoleSend = typ === CONSOLE_SEND_TOKEN_TYPE;
    const faults = consoleSend ? this.consoleSendFaults(payload) : this.issuanceFaults(payload);
    if (faults.length > 0) {
      this.logger.warn({
        msg: consoleSend ? 'console send token refused: auth would not issue it' : 'access token refused: auth would not issue it',
        reason: faults.join('; '),
        sub: clip(payload.sub),
        projectId: clip(payload['project_id']),
        clientKeyId: clip(payload['client_key_id']),
        jti: clip(payload.jti),
      });
      throw unauthenticated(NOT_VALID);
    }
    const projectId = payload['project_id'];
    const scope = payload['scope'];
    if (typeof projectId !== 'string' || projectId === '') throw unauthenticated('the access token carries no project_id');
    if (typeof scope !== 'string') throw unauthenticated('the access token carries no scope');
    const principal: AccessPrincipal = {
      kind: consoleSend ? 'console-send' : 'client',
      projectId,
      clientId: payload.sub!,
      keyId: consoleSend ? '' : (payload['client_key_id'] as string),
      scopes: new Set(scope.split(' ').filter(Boolean)),
    };
    this.remember(token, principal, payload.exp! * 1000 + CLOCK_SKEW_SECONDS * 1000);
    return principal;
  }

  /**
   * Why a verified token cannot be one auth issued: every reason, or none. jose has checked that
   * `exp` is present and that `iat`, if present, is a number. `iat` further in the future than the
   * skew is refused too: auth stamps it with its own clock.
   */
  private issuanceFaults(payload: JWTPayload): string[] {
    const now = this.clock.now() / 1000;
    const ttl = this.expected.accessTokenTtlSeconds;
    const { iat, sub } = payload;
    const exp = payload.exp!;
    const keyId = payload['client_key_id'];
    const faults: string[] = [];
    if (iat === undefined) faults.push('no iat claim');
    else {
      if (iat > now + CLOCK_SKEW_SECONDS) faults.push(`iat is ${Math.round(iat - now)} s in the future`);
      if (exp - iat > ttl + CLOCK_SKEW_SECONDS) faults.push(`lifetime exp - iat of ${exp - iat} s exceeds the access-token TTL of ${ttl} s`);
    }
    if (exp - now > ttl + CLOCK_SKEW_SECONDS) faults.push(`expires ${Math.round(exp - now)} s from now, beyond the access-token TTL of ${ttl} s`);
    if (typeof sub !== 'string' || sub === '') faults.push('no sub claim');
    if (keyId === undefined) faults.push('no client_key_id claim');
    else if (typeof keyId !== 'string' || keyId === '') faults.push('client_key_id is not a non-empty string');
    // The console's scope is never granted to a service account.
    if (typeof payload['scope'] === 'string' && payload['scope'].split(' ').includes(CONSOLE_SEND_SCOPE)) faults.push(`scope ${CONSOLE_SEND_SCOPE} in an access token`);
    return faults;
  }

  /**
   * Why a verified token of type `console-send+jwt` cannot be one auth minted for a test send:
   * `iat` present and not in the future, `exp` − `iat` at most `CONSOLE_SEND_TOKEN_TTL_SECONDS`
   * (and `exp` no further ahead, with the skew), `sub` `console:…`, scope exactly
   * `console:send`, a `jti`. It names no service-account key, so nothing could revoke it: its
   * lifetime is its bound.
   */
  private consoleSendFaults(payload: JWTPayload): string[] {
    const now = this.clock.now() / 1000;
    const { iat, sub, jti } = payload;
    const exp = payload.exp!;
    const faults: string[] = [];
    if (iat === undefined) faults.push('no iat claim');
    else {
      if (iat > now + CLOCK_SKEW_SECONDS) faults.push(`iat is ${Math.round(iat - now)} s in the future`);
      if (exp - iat > CONSOLE_SEND_TOKEN_TTL_SECONDS) faults.push(`lifetime exp - iat of ${exp - iat} s exceeds the console send token's ${CONSOLE_SEND_TOKEN_TTL_SECONDS} s`);
    }
    if (exp - now > CONSOLE_SEND_TOKEN_TTL_SECONDS + CLOCK_SKEW_SECONDS) faults.push(`expires ${Math.round(exp - now)} s from now, beyond the console send token's ${CONSOLE_SEND_TOKEN_TTL_SECONDS} s`);
    if (typeof sub !== 'string' || !/^console:\S+$/.test(sub)) faults.push('sub is not console:<who>');
    if (payload['scope'] !== CONSOLE_SEND_SCOPE) faults.push(`scope is not exactly ${CONSOLE_SEND_SCOPE}`);
    if (typeof jti !== 'string' || jti === '') faults.push('no jti claim');
    if (payload['client_key_id'] !== undefined) faults.push('a client_key_id claim');
    return faults;
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

/** A claim for the log: strings and numbers only, and not too long (the token's signer chose it). */
function clip(value: unknown): string | number | undefined {
  if (typeof value === 'number') return value;
  return typeof value === 'string' ? value.slice(0, 128) : undefined;
}

function unauthenticated(message: string): DomainError {
  return new DomainError(ErrorCode.Unauthenticated, message);
}
