import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { base64url, createLocalJWKSet, decodeProtectedHeader, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { OAuthError } from '@borealis/contracts';
import { MemoryRateLimiter, MemoryReplayGuard, ReplayGuard } from '@borealis/keyvalue';
import { FixedClock } from '@borealis/util';
import { SigningKeys, SigningKeyStore, type StoredSigningKey } from '../signing/signing-keys';
import { ClientAssertionVerifier, MAX_KEYS_TRIED_WITHOUT_KID } from './client-assertion';
import { ClientDirectory, type ClientKeyRecord, type ClientRecord } from './client-directory';
import { TokenRateLimited, TokenRateLimits } from './token-rate-limits';
import { JWT_BEARER_ASSERTION, TokenService } from './token.service';

const ISSUER = 'http://auth.test/auth/public';
const TOKEN_URL = 'http://auth.test/auth/public/oauth2/token';
const NOW_MS = Date.UTC(2025, 5, 1, 12, 0, 0);
const NOW = NOW_MS / 1000;
const SCOPES = ['openid', 'offline', 'message:update', 'project:read'];

class MemorySigningKeyStore extends SigningKeyStore {
  private readonly keys: StoredSigningKey[] = [];
  async newest(count: number): Promise<StoredSigningKey[]> {
    return this.keys.slice(-count).reverse();
  }
  async add(key: StoredSigningKey, onlyIfNone: boolean): Promise<void> {
    if (!onlyIfNone || this.keys.length === 0) this.keys.push(key);
  }
}

class MemoryClientDirectory extends ClientDirectory {
  readonly clients = new Map<string, ClientRecord>();
  readonly keys = new Map<string, ClientKeyRecord & { clientId: string }>();
  async findClient(clientId: string): Promise<ClientRecord | null> {
    return this.clients.get(clientId) ?? null;
  }
  async findKey(clientId: string, kid: string): Promise<ClientKeyRecord | null> {
    const key = this.keys.get(kid);
    return key && key.clientId === clientId ? key : null;
  }
  async activeKeys(clientId: string, nowMs: number, limit: number): Promise<ClientKeyRecord[]> {
    return [...this.keys.values()]
      .filter((k) => k.clientId === clientId && k.revokedAt === null && (k.expiresAt === null || k.expiresAt.getTime() > nowMs))
      .reverse()
      .slice(0, limit);
  }
}

/** Records what the verifier asks the replay guard. */
class RecordingReplayGuard extends ReplayGuard {
  readonly calls: { id: string; ttlSeconds: number }[] = [];
  constructor(private readonly inner: ReplayGuard) {
    super();
  }
  firstUse(id: string, ttlSeconds: number): Promise<boolean> {
    this.calls.push({ id, ttlSeconds });
    return this.inner.firstUse(id, ttlSeconds);
  }
}

interface Client {
  clientId: string;
  kid: string;
  privateKey: KeyObject;
  publicKeyPem: string;
}

function newClient(directory: MemoryClientDirectory, projectId: string, extra: Partial<ClientKeyRecord> = {}): Client {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const client: Client = {
    clientId: `client-${randomUUID()}`,
    kid: `kid-${randomUUID()}`,
    privateKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
  directory.clients.set(client.clientId, { clientId: client.clientId, projectId, scopes: SCOPES, projectActive: true });
  directory.keys.set(client.kid, { clientId: client.clientId, kid: client.kid, publicKeyPem: client.publicKeyPem, expiresAt: null, revokedAt: null, ...extra });
  return client;
}

describe('TokenService (client_credentials with private_key_jwt)', () => {
  const clock = new FixedClock(NOW_MS);
  const directory = new MemoryClientDirectory();
  const replayGuard = new RecordingReplayGuard(new MemoryReplayGuard(clock));
  const signingKeys = new SigningKeys(new MemorySigningKeyStore(), clock);
  const options = { issuer: ISSUER, tokenUrl: TOKEN_URL, audiences: ['borealis-push', 'borealis-other'], accessTokenTtlSeconds: 3600 };
  const roomy = { perIp: { burst: 1000, perSecond: 100 }, perClient: { burst: 1000, perSecond: 100 } };
  const newService = (tokenRateLimits = roomy) =>
    new TokenService(
      new ClientAssertionVerifier(directory, replayGuard, new TokenRateLimits(new MemoryRateLimiter(clock), { tokenRateLimits }), clock, options),
      signingKeys,
      clock,
      options,
    );
  const service = newService();
  let alice: Client;
  let bob: Client;

  beforeAll(async () => {
    await signingKeys.onModuleInit();
    alice = newClient(directory, 'project-a');
    bob = newClient(directory, 'project-b');
  });

  beforeEach(() => clock.set(NOW_MS));

  /** An assertion as an app server signs it; `claims` override (undefined removes a claim). */
  function assertion(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, client = alice, key = client.privateKey) {
    const payload: JWTPayload = { iss: client.clientId, sub: client.clientId, aud: TOKEN_URL, iat: NOW, exp: NOW + 60, jti: randomUUID(), ...claims };
    for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
    return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: client.kid, ...header }).sign(key);
  }

  function request(clientAssertion: string, extra: Record<string, unknown> = {}) {
    return { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER_ASSERTION, client_assertion: clientAssertion, ...extra };
  }

  async function refusal(body: unknown): Promise<OAuthError> {
    const err = await service.issue(body).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(err instanceof OAuthError)) throw new Error(`expected an OAuthError, got ${String(err)}`);
    return err;
  }

  const authenticationFailed = { error: 'invalid_client', status: 401, description: 'client authentication failed' };

  it('issues an RS256 at+jwt access token that verifies against the JWKS', async () => {
    const response = await service.issue(request(await assertion()));
    expect(response).toMatchObject({ token_type: 'Bearer', expires_in: 3600, expires_at: '2025-06-01T13:00:00.000Z', scope: SCOPES.join(' ') });
    const { payload, protectedHeader } = await jwtVerify(response.access_token, createLocalJWKSet(await signingKeys.jwks()), {
      algorithms: ['RS256'],
      issuer: ISSUER,
      audience: 'borealis-push',
      currentDate: new Date(NOW_MS),
    });
    expect(protectedHeader).toEqual({ alg: 'RS256', kid: (await signingKeys.current()).kid, typ: 'at+jwt' });
    expect(payload).toMatchObject({ sub: alice.clientId, client_id: alice.clientId, client_key_id: alice.kid, project_id: 'project-a', scope: SCOPES.join(' '), iat: NOW, exp: NOW + 3600 });
    expect(typeof payload.jti).toBe('string');
  });

  it('grants a requested subset of scopes, for a requested known audience, and accepts aud = issuer', async () => {
    const response = await service.issue(request(await assertion({ aud: [ISSUER, 'x'] }), { scope: 'message:update  openid message:update', audience: 'borealis-other' }));
    expect(response.scope).toBe('message:update openid');
    const { payload } = await jwtVerify(response.access_token, createLocalJWKSet(await signingKeys.jwks()), { currentDate: new Date(NOW_MS) });
    expect(payload.aud).toBe('borealis-other');
  });

  it('accepts clocks that differ by less than the skew', async () => {
    const body = request(await assertion({ iat: NOW + 50, exp: NOW + 110, nbf: NOW + 50 }));
    await expect(service.issue(body)).resolves.toMatchObject({ token_type: 'Bearer' });
    const late = request(await assertion({ iat: NOW - 100, exp: NOW - 30 }));
    await expect(service.issue(late)).resolves.toMatchObject({ token_type: 'Bearer' });
  });

  it('remembers the jti per client until the assertion can no longer be accepted', async () => {
    const jti = randomUUID();
    await service.issue(request(await assertion({ jti, exp: NOW + 100 })));
    expect(replayGuard.calls.at(-1)).toEqual({ id: `assertion:${alice.clientId}:${jti}`, ttlSeconds: 160 });
  });

  it('refuses a replayed assertion', async () => {
    const body = request(await assertion());
    await service.issue(body);
    expect(await refusal(body)).toMatchObject({ error: 'invalid_client', status: 401, description: expect.stringContaining('already used') });
  });

  it.each([
    ['an expired assertion', { iat: NOW - 200, exp: NOW - 61 }, 'has expired'],
    ['a too long-lived assertion', { exp: NOW + 3601 }, 'lives too long'],
    ['a far-future exp', { exp: NOW + 86_400 }, 'lives too long'],
    ['an iat in the future', { iat: NOW + 61, exp: NOW + 120 }, 'iat is in the future'],
    ['an nbf in the future', { nbf: NOW + 61 }, 'not valid yet'],
    ['a wrong aud', { aud: 'http://elsewhere.test/oauth2/token' }, 'aud'],
    ['no aud', { aud: undefined }, 'aud'],
    ['sub other than iss', { sub: 'someone-else' }, 'sub must equal'],
    ['no exp', { exp: undefined }, 'no numeric exp'],
    ['no iat', { iat: undefined }, 'no numeric iat'],
    ['a non-numeric exp', { exp: 'soon' }, 'no numeric exp'],
    ['no jti', { jti: undefined }, 'no jti'],
    ['an empty jti', { jti: '' }, 'no jti'],
  ])('refuses %s with invalid_client', async (_name, claims, description) => {
    expect(await refusal(request(await assertion(claims)))).toMatchObject({ error: 'invalid_client', status: 401, description: expect.stringContaining(description) });
  });

  it('gives one answer for unknown client, unknown kid, another account key and a bad signature', async () => {
    const unknownClient = await assertion({ iss: 'nobody', sub: 'nobody' });
    const unknownKid = await assertion({}, { kid: 'no-such-kid' });
    const othersKey = await assertion({}, { kid: bob.kid }, alice, bob.privateKey);
    const [h, p, s] = (await assertion()).split('.');
    const forgedPayload = base64url.encode(JSON.stringify({ ...JSON.parse(new TextDecoder().decode(base64url.decode(p!))), sub: alice.clientId, exp: NOW + 120 }));
    const tamperedPayload = `${h}.${forgedPayload}.${s}`;
    const tamperedSignature = `${h}.${p}.${s!.startsWith('A') ? 'B' : 'A'}${s!.slice(1)}`;
    const signedByOther = await assertion({}, {}, alice, bob.privateKey);
    const answers = [];
    for (const jwt of [unknownClient, unknownKid, othersKey, tamperedPayload, tamperedSignature, signedByOther]) {
      const err = await refusal(request(jwt));
      answers.push({ error: err.error, status: err.status, description: err.description });
    }
    expect(answers).toEqual(Array(6).fill(authenticationFailed));
  });

  it('refuses alg none, HS256 keyed with the public key, and a kid that is not a string', async () => {
    const enc = (value: object) => base64url.encode(JSON.stringify(value));
    const claims = { iss: alice.clientId, sub: alice.clientId, aud: TOKEN_URL, iat: NOW, exp: NOW + 60, jti: randomUUID() };
    const none = `${enc({ alg: 'none', kid: alice.kid })}.${enc(claims)}.`;
    const hs256 = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: alice.kid }).sign(new TextEncoder().encode(alice.publicKeyPem));
    expect(decodeProtectedHeader(hs256).alg).toBe('HS256');
    const numericKid = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 7 as unknown as string }).sign(alice.privateKey);
    for (const jwt of [none, hs256, numericKid, 'not-a-jwt']) expect(await refusal(request(jwt))).toMatchObject(authenticationFailed);
  });

  it('accepts an assertion without kid (RFC 7523) signed by one of the client\'s active keys, and names that key in the token', async () => {
    const carol = newClient(directory, 'project-k');
    const second = newClient(directory, 'project-k');
    // A second key of the same account: move it to carol.
    directory.keys.set(second.kid, { ...directory.keys.get(second.kid)!, clientId: carol.clientId });
    const noKid = (key: KeyObject) => assertion({ iss: carol.clientId, sub: carol.clientId }, { kid: undefined }, carol, key);
    for (const [key, kid] of [[carol.privateKey, carol.kid], [second.privateKey, second.kid]] as const) {
      const jwt = await noKid(key);
      expect(decodeProtectedHeader(jwt).kid).toBeUndefined();
      const { access_token } = await service.issue(request(jwt));
      const { payload } = await jwtVerify(access_token, createLocalJWKSet(await signingKeys.jwks()), { currentDate: new Date(NOW_MS) });
      expect(payload.client_key_id).toBe(kid);
    }
    // Another account's key, or a key of carol's that was revoked, verifies nothing: the one answer.
    expect(await refusal(request(await noKid(bob.privateKey)))).toMatchObject(authenticationFailed);
    directory.keys.get(second.kid)!.revokedAt = new Date(NOW_MS - 1);
    expect(await refusal(request(await noKid(second.privateKey)))).toMatchObject(authenticationFailed);
  });

  it('tries at most a bounded few keys for an assertion without kid', async () => {
    const dave = newClient(directory, 'project-d');
    const oldest = dave.privateKey;
    for (let i = 0; i < MAX_KEYS_TRIED_WITHOUT_KID; i++) {
      const extra = newClient(directory, 'project-d');
      directory.keys.set(extra.kid, { ...directory.keys.get(extra.kid)!, clientId: dave.clientId });
    }
    // dave's first key is now the sixth newest: without kid it is not tried; with kid it works.
    expect(await refusal(request(await assertion({ iss: dave.clientId, sub: dave.clientId }, { kid: undefined }, dave, oldest)))).toMatchObject(authenticationFailed);
    await expect(service.issue(request(await assertion({ iss: dave.clientId, sub: dave.clientId }, {}, dave, oldest)))).resolves.toMatchObject({ token_type: 'Bearer' });
  });

  it('accepts assertions that live up to an hour, as common OAuth libraries sign them, and remembers their jti that long', async () => {
    const jti = randomUUID();
    await service.issue(request(await assertion({ jti, exp: NOW + 3600 })));
    expect(replayGuard.calls.at(-1)).toEqual({ id: `assertion:${alice.clientId}:${jti}`, ttlSeconds: 3660 });
  });

  it('answers expires_at in RFC 3339 to JSON requests (Aurora) and in epoch seconds to form-encoded ones (RFC 6749 clients)', async () => {
    expect((await service.issue(request(await assertion()), 'json')).expires_at).toBe('2025-06-01T13:00:00.000Z');
    expect((await service.issue(request(await assertion()), 'form')).expires_at).toBe(NOW + 3600);
  });

  it('refuses revoked and expired keys like unknown ones', async () => {
    const revoked = newClient(directory, 'project-a', { revokedAt: new Date(NOW_MS - 1000) });
    const expired = newClient(directory, 'project-a', { expiresAt: new Date(NOW_MS) });
    const stillValid = newClient(directory, 'project-a', { expiresAt: new Date(NOW_MS + 1000) });
    expect(await refusal(request(await assertion({}, {}, revoked)))).toMatchObject(authenticationFailed);
    expect(await refusal(request(await assertion({}, {}, expired)))).toMatchObject(authenticationFailed);
    await expect(service.issue(request(await assertion({}, {}, stillValid)))).resolves.toMatchObject({ token_type: 'Bearer' });
  });

  it('refuses clients of inactive projects', async () => {
    const client = newClient(directory, 'project-c');
    directory.clients.get(client.clientId)!.projectActive = false;
    expect(await refusal(request(await assertion({}, {}, client)))).toMatchObject({ error: 'invalid_client', status: 401, description: expect.stringContaining('inactive') });
  });

  it('refuses scopes the account does not have, and malformed scopes, with invalid_scope', async () => {
    expect(await refusal(request(await assertion(), { scope: 'openid admin:all' }))).toMatchObject({ error: 'invalid_scope', status: 400, description: expect.stringContaining('admin:all') });
    expect(await refusal(request(await assertion(), { scope: 'openid "quoted"' }))).toMatchObject({ error: 'invalid_scope', status: 400 });
  });

  it('refuses unknown audiences with invalid_request', async () => {
    expect(await refusal(request(await assertion(), { audience: 'somebody-else' }))).toMatchObject({ error: 'invalid_request', status: 400 });
  });

  it('refuses other grant types and malformed requests', async () => {
    const jwt = await assertion();
    expect(await refusal(request(jwt, { grant_type: 'password' }))).toMatchObject({ error: 'unsupported_grant_type', status: 400 });
    expect(await refusal(request(jwt, { grant_type: undefined }))).toMatchObject({ error: 'invalid_request', status: 400 });
    expect(await refusal(request(jwt, { scope: ['openid'] }))).toMatchObject({ error: 'invalid_request', status: 400 });
    expect(await refusal(request(jwt, { client_assertion: 'x'.repeat(8193) }))).toMatchObject({ error: 'invalid_request', status: 400 });
    expect(await refusal('grant_type=client_credentials')).toMatchObject({ error: 'invalid_request', status: 400 });
    expect(await refusal(null)).toMatchObject({ error: 'invalid_request', status: 400 });
  });

  it('refuses requests without private_key_jwt client authentication with invalid_client', async () => {
    const jwt = await assertion();
    for (const body of [
      request(jwt, { client_assertion: undefined }),
      request(jwt, { client_assertion_type: undefined }),
      request(jwt, { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer' }),
      { grant_type: 'client_credentials', client_id: alice.clientId, client_secret: 'secret' },
    ]) {
      expect(await refusal(body)).toMatchObject({ error: 'invalid_client', status: 401, description: expect.stringContaining('client authentication required') });
    }
  });

  it('limits token requests per client, counting only requests whose signature verified', async () => {
    const limited = newService({ perIp: roomy.perIp, perClient: { burst: 2, perSecond: 0.5 } });
    const forged = request(await assertion({}, {}, alice, bob.privateKey));
    for (let i = 0; i < 3; i++) await expect(limited.issue(forged)).rejects.toMatchObject({ status: 401 });
    await limited.issue(request(await assertion()));
    await limited.issue(request(await assertion()));
    const refused = await limited.issue(request(await assertion())).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TokenRateLimited);
    expect(refused).toMatchObject({ status: 429, error: 'invalid_request', retryAfterSeconds: 2 });
    // Another client has its own budget; and the bucket refills.
    await expect(limited.issue(request(await assertion({}, {}, bob)))).resolves.toMatchObject({ token_type: 'Bearer' });
    clock.set(NOW_MS + 2000);
    await expect(limited.issue(request(await assertion()))).resolves.toMatchObject({ token_type: 'Bearer' });
  });
});
