import { Inject, Injectable } from '@nestjs/common';
import { createPublicKey } from 'node:crypto';
import { compactVerify, decodeJwt, decodeProtectedHeader, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { OAuthError, OAuthErrorCode } from '@borealis/contracts';
import { ReplayGuard } from '@borealis/keyvalue';
import { Clock } from '@borealis/util';
import { AUTH_OPTIONS, type AuthModuleOptions } from '../auth-options';
import { ClientDirectory, type ClientKeyRecord, type ClientRecord } from './client-directory';
import { TokenRateLimits } from './token-rate-limits';

/** An authenticated client and the id of the key its assertion was signed with. */
export interface AuthenticatedClient extends ClientRecord {
  keyId: string;
}

/** Tolerated clock difference between app servers and auth. */
export const CLOCK_SKEW_SECONDS = 60;
/**
 * Longest accepted assertion lifetime (`exp` − `iat`). Assertions are for one token request, but
 * common OAuth libraries sign them for up to an hour (Authlib: 3,600 s), as Google's and Okta's
 * token endpoints accept; the jti stays refused for the whole lifetime, so a longer one is no
 * replay window.
 */
export const MAX_ASSERTION_LIFETIME_SECONDS = 3600;
/**
 * Keys tried for an assertion without `kid` (RFC 7523 does not require one): the client's newest
 * active keys, a bounded few, so that an unauthenticated request costs a bounded number of RSA
 * verifications. A client with more active keys must name the key.
 */
export const MAX_KEYS_TRIED_WITHOUT_KID = 5;
const MAX_JTI_LENGTH = 256;

/**
 * Authenticates a client by its `private_key_jwt` assertion (RFC 7523): RS256 only, the key named by
 * `kid` must be an active key of the account named by `iss` (without `kid`: one of its newest
 * active keys must verify the signature), `sub` = `iss`, `aud` = the token URL
 * or the issuer, `exp`/`iat`/`nbf` within a small skew and a short lifetime, `jti` used once. A
 * client whose signature verified is also held to its per-client rate limit.
 *
 * Every failure is `invalid_client` (RFC 7521 §4.2.1). Until the signature has verified, all
 * failures (unknown client, unknown or inactive key, another account's key, a disallowed algorithm,
 * a bad signature, a malformed token) give one and the same answer, so that the endpoint is no
 * oracle for client ids or key ids; after it, the description says what is wrong.
 */
@Injectable()
export class ClientAssertionVerifier {
  private readonly audiences: ReadonlySet<string>;

  constructor(
    private readonly directory: ClientDirectory,
    private readonly replayGuard: ReplayGuard,
    private readonly rateLimits: TokenRateLimits,
    private readonly clock: Clock,
    @Inject(AUTH_OPTIONS) options: Pick<AuthModuleOptions, 'tokenUrl' | 'issuer'>,
  ) {
    this.audiences = new Set([options.tokenUrl, options.issuer]);
  }

  async verify(assertion: string): Promise<AuthenticatedClient> {
    const { client, claims } = await this.authenticate(assertion);
    await this.rateLimits.perClient(client.clientId);
    const nowSeconds = this.clock.now() / 1000;
    const { sub, aud, exp, iat, nbf, jti } = claims;
    if (sub !== client.clientId) throw rejected('the assertion sub must equal its iss (the client_id)');
    const audiences = typeof aud === 'string' ? [aud] : (aud ?? []);
    if (!audiences.some((a) => this.audiences.has(a))) throw rejected('the assertion aud must be the token URL');
    if (!isTime(exp)) throw rejected('the assertion has no numeric exp');
    if (!isTime(iat)) throw rejected('the assertion has no numeric iat');
    if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH) throw rejected('the assertion has no jti (1 to 256 characters)');
    if (exp <= nowSeconds - CLOCK_SKEW_SECONDS) throw rejected('the assertion has expired');
    if (iat > nowSeconds + CLOCK_SKEW_SECONDS) throw rejected('the assertion iat is in the future');
    if (exp - iat > MAX_ASSERTION_LIFETIME_SECONDS) {
      throw rejected(`the assertion lives too long: exp may be at most ${MAX_ASSERTION_LIFETIME_SECONDS} s after iat`);
    }
    if (nbf !== undefined && (!isTime(nbf) || nbf > nowSeconds + CLOCK_SKEW_SECONDS)) throw rejected('the assertion is not valid yet (nbf)');
    // Remember the jti for as long as the assertion could still be accepted.
    const ttlSeconds = Math.max(1, Math.ceil(exp - nowSeconds)) + CLOCK_SKEW_SECONDS;
    if (!(await this.replayGuard.firstUse(`assertion:${client.clientId}:${jti}`, ttlSeconds))) {
      throw rejected('the assertion was already used: sign a new one with a fresh jti for every token request');
    }
    return client;
  }

  /** The client whose active key verifies the signature, or the one uniform refusal. */
  private async authenticate(assertion: string): Promise<{ client: AuthenticatedClient; claims: JWTPayload }> {
    let header: ProtectedHeaderParameters;
    let claims: JWTPayload;
    try {
      header = decodeProtectedHeader(assertion);
      claims = decodeJwt(assertion);
    } catch {
      throw authenticationFailed();
    }
    const { alg, kid } = header;
    if (alg !== 'RS256' || (kid !== undefined && typeof kid !== 'string') || typeof claims.iss !== 'string') throw authenticationFailed();
    const client = await this.directory.findClient(claims.iss);
    if (!client) throw authenticationFailed();
    const nowMs = this.clock.now();
    let candidates: ClientKeyRecord[];
    if (kid !== undefined) {
      const key = await this.directory.findKey(client.clientId, kid);
      candidates = key && key.revokedAt === null && (key.expiresAt === null || key.expiresAt.getTime() > nowMs) ? [key] : [];
    } else {
      candidates = await this.directory.activeKeys(client.clientId, nowMs, MAX_KEYS_TRIED_WITHOUT_KID);
    }
    for (const key of candidates) {
      try {
        // The allow-list also refuses `none` and HMAC algorithms keyed with the public key.
        await compactVerify(assertion, createPublicKey(key.publicKeyPem), { algorithms: ['RS256'] });
      } catch {
        continue;
      }
      // The payload decoded above is the one whose signature just verified.
      return { client: { ...client, keyId: key.kid }, claims };
    }
    throw authenticationFailed();
  }
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function authenticationFailed(): OAuthError {
  return new OAuthError(OAuthErrorCode.InvalidClient, 'client authentication failed');
}

function rejected(description: string): OAuthError {
  return new OAuthError(OAuthErrorCode.InvalidClient, description);
}
