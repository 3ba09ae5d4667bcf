import { DomainError, ErrorCode } from '@borealis/contracts';
import { FixedClock } from '@borealis/util';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTVerifyGetKey } from 'jose';
import { AccessTokenVerifier } from './access-token-verifier';

const ISSUER = 'https://borealis.test/auth/public';
const AUDIENCE = 'borealis-push';
const NOW_S = 1_800_000_000;

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

function mint(claims: Record<string, unknown> = {}, opts: { key?: CryptoKey; kid?: string; iat?: number; exp?: number } = {}) {
  const iat = opts.iat ?? NOW_S;
  return new SignJWT({ project_id: 'p1', scope: 'openid message:update project:read', ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? 'k1', typ: 'at+jwt' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject('client-1')
    .setIssuedAt(iat)
    .setExpirationTime(opts.exp ?? iat + 300)
    .sign(opts.key ?? signingKey);
}

function verifier(getKey: JWTVerifyGetKey = keys) {
  return new AccessTokenVerifier(getKey, { issuer: ISSUER, audience: AUDIENCE }, clock);
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
    expect(principal).toEqual({ projectId: 'p1', clientId: 'client-1', keyId: null, scopes: new Set(['openid', 'message:update', 'project:read']) });
  });

  it('reads the service-account key id and refuses a malformed one', async () => {
    await expect(verifier().verify(`Bearer ${await mint({ client_key_id: 'key-7' })}`)).resolves.toMatchObject({ keyId: 'key-7' });
    for (const bad of ['', 7]) {
      await expect(verifier().verify(`Bearer ${await mint({ client_key_id: bad })}`)).rejects.toMatchObject({ code: ErrorCode.Unauthenticated });
    }
  });

  it('verifies a token once and remembers it until it expires', async () => {
    let lookups = 0;
    const counting: JWTVerifyGetKey = (header, jws) => {
      lookups++;
      return keys(header, jws);
    };
    const localClock = new FixedClock(NOW_S * 1000);
    const v = new AccessTokenVerifier(counting, { issuer: ISSUER, audience: AUDIENCE }, localClock);
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
