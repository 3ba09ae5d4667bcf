import { Logger } from '@nestjs/common';
import { DomainError, ErrorCode } from '@borealis/contracts';
import { FixedClock } from '@borealis/util';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTVerifyGetKey } from 'jose';
import { AccessTokenVerifier } from './access-token-verifier';

const ISSUER = 'https://borealis.test/auth/public';
const AUDIENCE = 'borealis-push';
const NOW_S = 1_800_000_000;
/** auth's ACCESS_TOKEN_TTL_SECONDS, which the gateway is configured with too. */
const TTL_S = 3600;

let signingKey: CryptoKey;
let otherKey: CryptoKey;
let keys: JWTVerifyGetKey;
const clock = new FixedClock(NOW_S * 1000);

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  signingKey = pair.privateKey;
  otherKey = (await generateKeyPair('RS256')).privateKey;
  const jwk = await exportJWK(pair.publicKey);
  keys = createLocalJWKSet({ keys: [{ ...jwk, kid: 'k1', alg: 'RS256', use: 'sig' }] });
});

/** A token as auth issues it (claims can be overridden; `undefined` leaves one out). */
function mint(claims: Record<string, unknown> = {}, opts: { key?: CryptoKey; kid?: string; iat?: number | null; exp?: number; sub?: string | null } = {}) {
  const iat = opts.iat === undefined ? NOW_S : opts.iat;
  const jwt = new SignJWT({ project_id: 'p1', scope: 'openid message:update project:read', client_id: 'client-1', client_key_id: 'key-1', ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? 'k1', typ: 'at+jwt' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setExpirationTime(opts.exp ?? (iat ?? NOW_S) + 300);
  if (opts.sub !== null) jwt.setSubject(opts.sub ?? 'client-1');
  if (iat !== null) jwt.setIssuedAt(iat);
  return jwt.sign(opts.key ?? signingKey);
}

function verifier(getKey: JWTVerifyGetKey = keys) {
  return new AccessTokenVerifier(getKey, { issuer: ISSUER, audience: AUDIENCE, accessTokenTtlSeconds: TTL_S }, clock);
}

async function refusal(authorization: string | undefined, getKey?: JWTVerifyGetKey): Promise<DomainError> {
  const err = await verifier(getKey).verify(authorization).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DomainError);
  return err as DomainError;
}

describe('AccessTokenVerifier', () => {
  it('returns the project, client and scopes of a valid token', async () => {
    const principal = await verifier().verify(`Bearer ${await mint()}`);
    expect(principal).toEqual({ kind: 'client', projectId: 'p1', clientId: 'client-1', keyId: 'key-1', scopes: new Set(['openid', 'message:update', 'project:read']) });
  });

  it('reads the service-account key id and refuses a malformed one', async () => {
    await expect(verifier().verify(`Bearer ${await mint({ client_key_id: 'key-7' })}`)).resolves.toMatchObject({ keyId: 'key-7' });
    for (const bad of ['', 7]) {
      await expect(verifier().verify(`Bearer ${await mint({ client_key_id: bad })}`)).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
    }
  });

  describe('tokens auth would never issue (validly signed, so only a leaked signing key or a misconfiguration makes them)', () => {
    let warnings: jest.SpyInstance;
    beforeEach(() => {
      warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    });
    afterEach(() => warnings.mockRestore());

    const TEN_YEARS_S = 10 * 365 * 86400;
    it.each([
      ['a lifetime of ten years and no client_key_id', () => mint({ client_key_id: undefined }, { exp: NOW_S + TEN_YEARS_S }), /client_key_id/],
      ['a lifetime of ten years', () => mint({}, { exp: NOW_S + TEN_YEARS_S }), /lifetime/],
      ['a lifetime just over the TTL and the skew', () => mint({}, { iat: NOW_S - 100, exp: NOW_S - 100 + TTL_S + 31 }), /lifetime/],
      ['an expiry further ahead than the TTL (iat set in the future)', () => mint({}, { iat: NOW_S + 2 * TTL_S, exp: NOW_S + 3 * TTL_S }), /expires|future/],
      ['an issue time in the future', () => mint({}, { iat: NOW_S + 120, exp: NOW_S + 180 }), /future/],
      ['no iat', () => mint({}, { iat: null, exp: NOW_S + 300 }), /iat/],
      ['no client_key_id', () => mint({ client_key_id: undefined }), /client_key_id/],
      ['an empty client_key_id', () => mint({ client_key_id: '' }), /client_key_id/],
      ['no sub', () => mint({}, { sub: null }), /sub/],
      ["the console's scope (console:send) in an access token", () => mint({ scope: 'message:update console:send' }), /console:send/],
    ])('refuses one with %s: 401 without saying why, the reason in the log', async (_name, token, reason) => {
      const err = await refusal(`Bearer ${await token()}`);
      expect(err).toMatchObject({ code: ErrorCode.Unauthenticated, message: 'the access token is not valid' });
      expect(warnings).toHaveBeenCalledTimes(1);
      const [entry] = warnings.mock.calls[0] as [{ msg: string; reason: string }];
      expect(entry).toMatchObject({ msg: 'access token refused: auth would not issue it', reason: expect.stringMatching(reason) });
    });

    it('accepts the longest lifetime auth issues, and the clock skew on top of it', async () => {
      await expect(verifier().verify(`Bearer ${await mint({}, { exp: NOW_S + TTL_S })}`)).resolves.toMatchObject({ projectId: 'p1' });
      await expect(verifier().verify(`Bearer ${await mint({}, { iat: NOW_S + 30, exp: NOW_S + 30 + TTL_S })}`)).resolves.toMatchObject({ projectId: 'p1' });
      expect(warnings).not.toHaveBeenCalled();
    });
  });

  describe("auth's console send token (one test send, 60 s, the send route only: docs/security.md)", () => {
    let warnings: jest.SpyInstance;
    beforeEach(() => {
      warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    });
    afterEach(() => warnings.mockRestore());

    /** A console send token as auth mints it (console-send-token.ts), claims overridable. */
    function mintConsoleSend(claims: Record<string, unknown> = {}, opts: { iat?: number | null; exp?: number; sub?: string | null; typ?: string } = {}) {
      const iat = opts.iat === undefined ? NOW_S : opts.iat;
      const jwt = new SignJWT({ project_id: 'p1', scope: 'console:send', jti: 'j-1', ...claims })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: opts.typ ?? 'console-send+jwt' })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setExpirationTime(opts.exp ?? (iat ?? NOW_S) + 60);
      if (opts.sub !== null) jwt.setSubject(opts.sub ?? 'console:acc-1');
      if (iat !== null) jwt.setIssuedAt(iat);
      return jwt.sign(signingKey);
    }

    it('is verified as a principal of its own kind, with no service-account key and only its own scope', async () => {
      const principal = await verifier().verify(`Bearer ${await mintConsoleSend()}`);
      expect(principal).toEqual({ kind: 'console-send', projectId: 'p1', clientId: 'console:acc-1', keyId: '', scopes: new Set(['console:send']) });
      expect(warnings).not.toHaveBeenCalled();
    });

    it.each([
      ['a lifetime of 61 s', () => mintConsoleSend({}, { iat: NOW_S - 10, exp: NOW_S + 51 }), /lifetime/],
      ['a lifetime of an access token (an hour)', () => mintConsoleSend({}, { exp: NOW_S + 3600 }), /lifetime/],
      ['an expiry beyond 60 s + skew from now (iat in the future)', () => mintConsoleSend({}, { iat: NOW_S + 40, exp: NOW_S + 100 }), /expires|future/],
      ['no iat', () => mintConsoleSend({}, { iat: null, exp: NOW_S + 60 }), /iat/],
      ['a sub that is not console:<who>', () => mintConsoleSend({}, { sub: 'client-1' }), /sub/],
      ['no sub', () => mintConsoleSend({}, { sub: null }), /sub/],
      ['a wider scope', () => mintConsoleSend({ scope: 'console:send message:update' }), /scope/],
      ['the scope of an access token', () => mintConsoleSend({ scope: 'message:update' }), /scope/],
      ['no jti', () => mintConsoleSend({ jti: undefined }), /jti/],
      ['a client_key_id (mixing the two kinds)', () => mintConsoleSend({ client_key_id: 'key-1' }), /client_key_id/],
    ])('refuses one with %s: 401 without saying why, the reason in the log', async (_name, token, reason) => {
      const err = await refusal(`Bearer ${await token()}`);
      expect(err).toMatchObject({ code: ErrorCode.Unauthenticated, message: 'the access token is not valid' });
      const [entry] = warnings.mock.calls[0] as [{ msg: string; reason: string }];
      expect(entry).toMatchObject({ msg: 'console send token refused: auth would not issue it', reason: expect.stringMatching(reason) });
    });

    it('is an access token like any other without its typ: then it lacks a client_key_id and is refused', async () => {
      const err = await refusal(`Bearer ${await mintConsoleSend({}, { typ: 'at+jwt' })}`);
      expect(err.message).toBe('the access token is not valid');
      expect(warnings.mock.calls[0]![0]).toMatchObject({ reason: expect.stringMatching(/client_key_id/) });
    });
  });

  it('verifies a token once and remembers it until it expires', async () => {
    let lookups = 0;
    const counting: JWTVerifyGetKey = (header, jws) => {
      lookups++;
      return keys(header, jws);
    };
    const localClock = new FixedClock(NOW_S * 1000);
    const v = new AccessTokenVerifier(counting, { issuer: ISSUER, audience: AUDIENCE, accessTokenTtlSeconds: TTL_S }, localClock);
    const token = `Bearer ${await mint({}, { exp: NOW_S + 60 })}`;
    await v.verify(token);
    await v.verify(token);
    expect(lookups).toBe(1);
    localClock.advance(91_000);
    await expect(v.verify(token)).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
    expect(lookups).toBe(2);
  });

  it('tolerates 30 s of clock skew on exp', async () => {
    await expect(verifier().verify(`Bearer ${await mint({}, { iat: NOW_S - 300, exp: NOW_S - 25 })}`)).resolves.toMatchObject({ projectId: 'p1' });
  });

  it.each([
    ['no header', undefined, /missing access token/],
    ['another scheme', 'Basic dXNlcjpwYXNz', /not "Bearer <access token>"/],
    ['garbage', 'Bearer not-a-jwt', /malformed/],
  ])('refuses %s as unauthenticated', async (_name, header, message) => {
    const err = await refusal(header);
    expect(err.code).toBe(ErrorCode.Unauthenticated);
    expect(err.message).toMatch(message);
  });

  it('refuses an expired token', async () => {
    const err = await refusal(`Bearer ${await mint({}, { iat: NOW_S - 400, exp: NOW_S - 31 })}`);
    expect(err).toMatchObject({ code: ErrorCode.Unauthenticated, message: 'the access token has expired' });
  });

  it('refuses a token signed by another key under a known kid (forged)', async () => {
    const err = await refusal(`Bearer ${await mint({}, { key: otherKey })}`);
    expect(err).toMatchObject({ code: ErrorCode.Unauthenticated, message: 'the access token signature does not verify' });
  });

  it('refuses a token with an unknown kid', async () => {
    const err = await refusal(`Bearer ${await mint({}, { kid: 'k-unknown' })}`);
    expect(err).toMatchObject({ code: ErrorCode.Unauthenticated, message: 'the access token is signed with an unknown key' });
  });

  it('refuses a wrong issuer or audience', async () => {
    const token = await new SignJWT({ project_id: 'p1', scope: 'message:update' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer('https://elsewhere')
      .setAudience(AUDIENCE)
      .setIssuedAt(NOW_S)
      .setExpirationTime(NOW_S + 60)
      .sign(signingKey);
    expect((await refusal(`Bearer ${token}`)).message).toMatch(/iss claim/);
    const wrongAudience = await new SignJWT({ project_id: 'p1', scope: 'message:update' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience('someone-else')
      .setIssuedAt(NOW_S)
      .setExpirationTime(NOW_S + 60)
      .sign(signingKey);
    expect((await refusal(`Bearer ${wrongAudience}`)).message).toMatch(/aud claim/);
  });

  it('refuses a token without exp', async () => {
    const token = await new SignJWT({ project_id: 'p1', scope: 'message:update' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .sign(signingKey);
    expect((await refusal(`Bearer ${token}`)).message).toMatch(/exp claim/);
  });

  it('refuses an HS256 token (algorithm confusion)', async () => {
    const token = await new SignJWT({ project_id: 'p1', scope: 'message:update' })
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(NOW_S)
      .setExpirationTime(NOW_S + 60)
      .sign(new TextEncoder().encode('a shared secret of thirty-two bytes!'));
    expect(await refusal(`Bearer ${token}`)).toMatchObject({ code: ErrorCode.Unauthenticated, message: 'the access token is not signed with RS256' });
  });

  it('refuses a token without project_id or scope', async () => {
    expect((await refusal(`Bearer ${await mint({ project_id: undefined })}`)).message).toBe('the access token carries no project_id');
    expect((await refusal(`Bearer ${await mint({ scope: ['message:update'] })}`)).message).toBe('the access token carries no scope');
  });

  it('answers unavailable, not unauthenticated, when the key set cannot be fetched', async () => {
    const unreachable: JWTVerifyGetKey = async () => {
      throw new TypeError('fetch failed');
    };
    const err = await refusal(`Bearer ${await mint()}`, unreachable);
    expect(err.code).toBe(ErrorCode.Unavailable);
    expect(err.details.retryAfterSeconds).toBe(1);
  });
});
