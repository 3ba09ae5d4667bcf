import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { OAuthError, OAuthErrorCode } from '@borealis/contracts';
import { Clock } from '@borealis/util';
import { AUTH_OPTIONS, type AuthModuleOptions } from '../auth-options';
import { SigningKeys } from '../signing/signing-keys';
import { ClientAssertionVerifier } from './client-assertion';

export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const MAX_ASSERTION_LENGTH = 8192;
/** RFC 6749 §3.3 scope-token characters. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  /** RFC 3339 for JSON requests (the Aurora API), epoch seconds for form-encoded ones. */
  expires_at: string | number;
  scope: string;
}

/**
 * How the token request arrived. `expires_at` is no RFC 6749 field: the Aurora API answers it in
 * RFC 3339, and Aurora clients send JSON; RFC 6749 clients send form-encoded requests, and the
 * common libraries (Authlib, oauthlib, openid-client) read `expires_at` as epoch seconds and fail
 * on text. Each gets the form it parses.
 */
export type TokenRequestEncoding = 'json' | 'form';

/**
 * The OAuth2 client-credentials grant with `private_key_jwt` client authentication, as the Aurora
 * project settings file drives it. Issues RS256 JWT access tokens (RFC 9068 `at+jwt`) that the
 * gateway verifies offline against the JWKS.
 */
@Injectable()
export class TokenService {
  private readonly logger = new Logger(TokenService.name);

  constructor(
    private readonly assertions: ClientAssertionVerifier,
    private readonly signingKeys: SigningKeys,
    private readonly clock: Clock,
    @Inject(AUTH_OPTIONS) private readonly options: Pick<AuthModuleOptions, 'issuer' | 'audiences' | 'accessTokenTtlSeconds'>,
  ) {}

  /** `body`: the request parameters, from JSON or form-urlencoded. */
  async issue(body: unknown, encoding: TokenRequestEncoding = 'json'): Promise<TokenResponse> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw invalidRequest('send the token request parameters as a JSON object or form-urlencoded');
    }
    const params = body as Record<string, unknown>;
    const grantType = param(params, 'grant_type');
    if (grantType === undefined) throw invalidRequest('grant_type is required');
    if (grantType !== 'client_credentials') {
      throw new OAuthError(OAuthErrorCode.UnsupportedGrantType, 'only grant_type=client_credentials is supported');
    }
    // RFC 6749 §5.2: missing or unsupported client authentication is invalid_client.
    const assertionType = param(params, 'client_assertion_type');
    const assertion = param(params, 'client_assertion');
    if (assertionType !== JWT_BEARER_ASSERTION || !assertion) {
      throw new OAuthError(
        OAuthErrorCode.InvalidClient,
        `client authentication required: send client_assertion_type=${JWT_BEARER_ASSERTION} and a signed client_assertion`,
      );
    }
    if (assertion.length > MAX_ASSERTION_LENGTH) throw invalidRequest(`client_assertion exceeds ${MAX_ASSERTION_LENGTH} characters`);
    const requestedScopes = parseScope(param(params, 'scope'));
    const audience = param(params, 'audience') || this.options.audiences[0]!;
    if (!this.options.audiences.includes(audience)) {
      throw invalidRequest(`unknown audience; tokens are issued for: ${this.options.audiences.join(', ')}`);
    }

    const client = await this.assertions.verify(assertion);
    if (!client.projectActive) throw new OAuthError(OAuthErrorCode.InvalidClient, 'the project of this client is inactive');
    const scopes = requestedScopes ?? client.scopes;
    const notAllowed = scopes.filter((s) => !client.scopes.includes(s));
    if (notAllowed.length > 0) {
      throw new OAuthError(OAuthErrorCode.InvalidScope, `scope not allowed for this client: ${notAllowed.join(' ')}`);
    }

    const scope = scopes.join(' ');
    const issuedAt = Math.floor(this.clock.now() / 1000);
    const expiresAt = issuedAt + this.options.accessTokenTtlSeconds;
    const key = await this.signingKeys.current();
    // client_key_id lets resource servers drop tokens of a key revoked after they were issued.
    const accessToken = await new SignJWT({ client_id: client.clientId, client_key_id: client.keyId, project_id: client.projectId, scope })
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'at+jwt' })
      .setIssuer(this.options.issuer)
      .setSubject(client.clientId)
      .setAudience(audience)
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAt)
      .setJti(randomUUID())
      .sign(key.privateKey);
    this.logger.log({ msg: 'access token issued', clientId: client.clientId, keyId: client.keyId, projectId: client.projectId, audience, scope });
    return {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: this.options.accessTokenTtlSeconds,
      expires_at: encoding === 'form' ? expiresAt : new Date(expiresAt * 1000).toISOString(),
      scope,
    };
  }
}

function param(params: Record<string, unknown>, name: string): string | undefined {
  const value = params[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidRequest(`${name} must be a string`);
  return value;
}

/** Requested scopes, without duplicates, or undefined for "the account's scopes". */
function parseScope(scope: string | undefined): string[] | undefined {
  const tokens = (scope ?? '').split(' ').filter(Boolean);
  if (tokens.length === 0) return undefined;
  if (!tokens.every((t) => SCOPE_TOKEN.test(t))) throw new OAuthError(OAuthErrorCode.InvalidScope, 'scope is malformed');
  return [...new Set(tokens)];
}

function invalidRequest(description: string): OAuthError {
  return new OAuthError(OAuthErrorCode.InvalidRequest, description);
}
