import { Catch, Global, Module, type ArgumentsHost, type DynamicModule, type ExceptionFilter } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { FastifyReply } from 'fastify';
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, jwtVerify, SignJWT } from 'jose';
import { DomainError, OAuthError, Topics, type RegistryEventV1 } from '@borealis/contracts';
import { MemoryRateLimiter, MemoryReplayGuard, RateLimiter, ReplayGuard } from '@borealis/keyvalue';
import { InProcessMessageBus, MessageBus } from '@borealis/messaging';
import { createTestDatabase, expectEventually, type TestDatabase } from '@borealis/testing';
import { Clock, SystemClock } from '@borealis/util';
import { AuthModule, type AuthModuleOptions } from './index';

const ADMIN_TOKEN = 'management-test-admin-token-0123456789abcdef';
const ISSUER = 'http://127.0.0.1:8080/auth/public';
const TOKEN_URL = `${ISSUER}/oauth2/token`;
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const STATUS: Record<string, number> = { invalid_argument: 400, unauthenticated: 401, permission_denied: 403, not_found: 404, conflict: 409, failed_precondition: 409, rate_limited: 429 };

@Catch()
class PlatformLikeErrorFilter implements ExceptionFilter {
  catch(err: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    if (err instanceof OAuthError) void reply.status(err.status).send({ error: err.error, error_description: err.description });
    else if (err instanceof DomainError) void reply.status(STATUS[err.code] ?? 500).send({ code: err.code, detail: err.message });
    else void reply.status(500).send({ code: 'internal', detail: String(err) });
  }
}

function platformDrivers(bus: MessageBus): DynamicModule {
  @Global()
  @Module({})
  class TestPlatformModule {}
  const clock = new SystemClock();
  return {
    module: TestPlatformModule,
    providers: [
      { provide: MessageBus, useValue: bus },
      { provide: ReplayGuard, useValue: new MemoryReplayGuard(clock) },
      { provide: RateLimiter, useValue: new MemoryRateLimiter(clock) },
      { provide: Clock, useValue: clock },
    ],
    exports: [MessageBus, ReplayGuard, RateLimiter, Clock],
  };
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

describe('management API: accounts, organizations, roles, keys (PostgreSQL)', () => {
  let db: TestDatabase;
  let bus: InProcessMessageBus;
  let app: NestFastifyApplication;
  const events: RegistryEventV1[] = [];

  const api = (method: Method, url: string, token: string | null, payload?: object) =>
    app.inject({ method, url: `/auth/admin/v1${url}`, headers: token ? { authorization: `Bearer ${token}` } : {}, ...(payload ? { payload } : {}) });

  async function ok<T = Record<string, unknown>>(method: Method, url: string, token: string, payload?: object): Promise<T> {
    const response = await api(method, url, token, payload);
    if (response.statusCode >= 300) throw new Error(`${method} ${url}: ${response.statusCode} ${response.body}`);
    return (response.body ? response.json() : undefined) as T;
  }

  async function account(email: string): Promise<{ id: string; token: string }> {
    const password = `pw-${randomUUID()}`;
    const created = await ok<{ id: string }>('POST', '/accounts', '', { email, password });
    const session = await ok<{ token: string }>('POST', '/sessions', '', { email, password });
    return { id: created.id, token: session.token };
  }

  async function tokenRequest(clientId: string, kid: string, key: KeyObject, extra: Record<string, string> = {}) {
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'RS256', kid })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(TOKEN_URL)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(key);
    return app.inject({
      method: 'POST',
      url: '/auth/public/oauth2/token',
      payload: { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: assertion, ...extra },
    });
  }

  async function generatedKey(projectId: string, token: string) {
    const issued = await ok<{ clientId: string; keyId: string; settings: { push_notification_system: { private_key: string } } }>('POST', `/projects/${projectId}/service-accounts`, token, {});
    return { clientId: issued.clientId, kid: issued.keyId, key: createPrivateKey(issued.settings.push_notification_system.private_key) };
  }

  const keyEvents = (kid: string) => events.filter((e): e is Extract<RegistryEventV1, { kind: 'service-account-key' }> => e.kind === 'service-account-key' && e.key.id === kid);

  let alice: { id: string; token: string };
  let bob: { id: string; token: string };
  let orgA: string;
  let orgB: string;
  let projectA: string;
  let projectB: string;

  beforeAll(async () => {
    db = await createTestDatabase('auth_mgmt');
    const options: AuthModuleOptions = {
      databaseUrl: db.url,
      issuer: ISSUER,
      tokenUrl: TOKEN_URL,
      audiences: ['borealis-push'],
      accessTokenTtlSeconds: 3600,
      adminToken: ADMIN_TOKEN,
      signingKeyEncryptionKey: randomBytes(32),
      publicApiUrl: 'http://127.0.0.1:8080/push/public/api/v1/',
      pushPublicAddress: 'tcp://127.0.0.1:5228',
      tokenRateLimits: { perIp: { burst: 200, perSecond: 0.01 }, perClient: { burst: 5, perSecond: 0.01 } },
      // Every account here signs up from the one test address (login-flood.int.ts tests the limit).
      accountLimits: { signUpPerIp: { burst: 50, perSecond: 1 } },
    };
    bus = new InProcessMessageBus();
    await bus.subscribe({ topic: Topics.registry, group: 'test', handler: async (messages) => void events.push(...messages.map((m) => m.value)) });
    await bus.start();
    const moduleRef = await Test.createTestingModule({ imports: [platformDrivers(bus), AuthModule.register(options)] }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter({ routerOptions: { ignoreDuplicateSlashes: true } }), { logger: false });
    app.useGlobalFilters(new PlatformLikeErrorFilter());
    await app.init();
    await app.getHttpAdapter().getInstance().ready();

    alice = await account('alice@a.example');
    bob = await account('Bob@B.example');
    orgA = (await ok<{ id: string }>('POST', '/tenants', alice.token, { name: 'Org A' })).id;
    orgB = (await ok<{ id: string }>('POST', '/tenants', bob.token, { name: 'Org B' })).id;
    projectA = (await ok<{ id: string }>('POST', `/tenants/${orgA}/projects`, alice.token, { name: 'A1' })).id;
    projectB = (await ok<{ id: string }>('POST', `/tenants/${orgB}/projects`, bob.token, { name: 'B1' })).id;
  });

  afterAll(async () => {
    await app?.close();
    await bus?.stop();
    await db?.drop();
  });

  it('signs up, logs in, knows who is signed in, and logs out', async () => {
    expect((await api('POST', '/accounts', null, { email: 'alice@a.example', password: 'another-long-password' })).json()).toMatchObject({ code: 'conflict' });
    expect((await api('POST', '/accounts', null, { email: 'short@a.example', password: 'short' })).statusCode).toBe(400);
    expect((await api('POST', '/accounts', null, { email: 'not-an-address', password: 'long-enough-password' })).statusCode).toBe(400);
    const wrongPassword = await api('POST', '/sessions', null, { email: 'alice@a.example', password: 'wrong-password-here' });
    const unknown = await api('POST', '/sessions', null, { email: 'nobody@a.example', password: 'wrong-password-here' });
    expect([wrongPassword.statusCode, unknown.statusCode]).toEqual([401, 401]);
    expect(wrongPassword.json()).toEqual(unknown.json());

    const me = await ok<{ email: string; memberships: unknown[] }>('GET', '/me', bob.token);
    expect(me).toMatchObject({ id: bob.id, email: 'bob@b.example', memberships: [{ tenantId: orgB, role: 'owner' }] });

    const session = await account('leaving@a.example');
    expect((await api('GET', '/me', session.token)).statusCode).toBe(200);
    expect((await api('DELETE', '/sessions/current', session.token)).statusCode).toBe(204);
    expect((await api('GET', '/me', session.token)).statusCode).toBe(401);
    expect((await api('GET', '/me', 'bcs_forged')).statusCode).toBe(401);
    expect((await api('GET', '/me', null)).statusCode).toBe(401);
  });

  it('a member of organization A can neither read nor change anything of organization B', async () => {
    const { kid } = await generatedKey(projectB, bob.token);
    const appB = await ok<{ id: string }>('POST', `/projects/${projectB}/applications`, bob.token, { name: 'B app' });
    const attempts: [Method, string, object?][] = [
      ['GET', `/tenants/${orgB}`],
      ['GET', `/tenants/${orgB}/projects`],
      ['POST', `/tenants/${orgB}/projects`, { name: 'intruder' }],
      ['GET', `/tenants/${orgB}/members`],
      ['PATCH', `/tenants/${orgB}/members/${bob.id}`, { role: 'viewer' }],
      ['DELETE', `/tenants/${orgB}/members/${bob.id}`],
      ['POST', `/tenants/${orgB}/invitations`, { email: 'alice@a.example', role: 'owner' }],
      ['GET', `/tenants/${orgB}/invitations`],
      ['GET', `/tenants/${orgB}/audit-log`],
      ['GET', `/projects/${projectB}`],
      ['PATCH', `/projects/${projectB}`, { isActive: false }],
      ['POST', `/projects/${projectB}/service-accounts`, {}],
      ['GET', `/projects/${projectB}/service-accounts/keys`],
      ['PATCH', `/projects/${projectB}/service-accounts/keys/${kid}`, { expiresAt: new Date().toISOString() }],
      ['DELETE', `/projects/${projectB}/service-accounts/keys/${kid}`],
      ['GET', `/projects/${projectB}/applications`],
      ['POST', `/projects/${projectB}/applications`, { name: 'intruder' }],
      ['PATCH', `/projects/${projectB}/applications/${appB.id}`, { isActive: false }],
      ['POST', `/projects/${projectB}/applications/${appB.id}/registration-secret`],
      ['DELETE', `/projects/${projectB}/applications/${appB.id}/registration-secret`],
      ['POST', '/signing-keys'],
    ];
    for (const [method, url, body] of attempts) {
      const response = await api(method, url, alice.token, body);
      // Not a member: as if B did not exist (404); operator-only routes: 403.
      expect({ method, url, status: response.statusCode }).toEqual({ method, url, status: url === '/signing-keys' ? 403 : 404 });
    }
    expect((await ok<{ id: string }[]>('GET', '/tenants', alice.token)).map((t) => t.id)).toEqual([orgA]);
    // Nothing of B changed.
    const detail = await ok<{ isActive: boolean; serviceAccount: { keys: { keyId: string; revokedAt: null; expiresAt: null }[] } }>('GET', `/projects/${projectB}`, bob.token);
    expect(detail.isActive).toBe(true);
    expect(detail.serviceAccount.keys).toEqual([expect.objectContaining({ keyId: kid, revokedAt: null, expiresAt: null })]);
    expect((await ok<unknown[]>('GET', `/tenants/${orgB}/projects`, bob.token)).length).toBe(1);
    expect((await ok<{ entries: { actor: string }[] }>('GET', `/tenants/${orgB}/audit-log`, bob.token)).entries.every((e) => e.actor === bob.id)).toBe(true);
  });

  it('invitations add members with roles, and each role may do what it may and no more', async () => {
    const carol = await account('carol@a.example');
    const dave = await account('dave@a.example');
    const mallory = await account('mallory@a.example');
    const forCarol = await ok<{ token: string }>('POST', `/tenants/${orgA}/invitations`, alice.token, { email: 'Carol@A.example', role: 'viewer' });
    const forDave = await ok<{ token: string }>('POST', `/tenants/${orgA}/invitations`, alice.token, { email: 'dave@a.example', role: 'developer' });
    expect((await api('POST', '/invitations/accept', mallory.token, { token: forCarol.token })).statusCode).toBe(403);
    expect(await ok('POST', '/invitations/accept', carol.token, { token: forCarol.token })).toMatchObject({ tenantId: orgA, role: 'viewer' });
    expect((await api('POST', '/invitations/accept', carol.token, { token: forCarol.token })).statusCode).toBe(404);
    await ok('POST', '/invitations/accept', dave.token, { token: forDave.token });
    expect((await api('POST', '/invitations/accept', dave.token, { token: 'bci_made-up' })).statusCode).toBe(404);

    // viewer: reads only.
    expect((await api('GET', `/projects/${projectA}`, carol.token)).statusCode).toBe(200);
    expect((await api('GET', `/tenants/${orgA}/members`, carol.token)).statusCode).toBe(200);
    expect((await api('POST', `/projects/${projectA}/applications`, carol.token, { name: 'x' })).statusCode).toBe(403);
    expect((await api('POST', `/projects/${projectA}/service-accounts`, carol.token, {})).statusCode).toBe(403);
    // developer: keys and applications, not the project's state, members or the audit log.
    expect((await api('POST', `/projects/${projectA}/applications`, dave.token, { name: 'by dave' })).statusCode).toBe(201);
    expect((await api('POST', `/projects/${projectA}/service-accounts`, dave.token, {})).statusCode).toBe(201);
    expect((await api('PATCH', `/projects/${projectA}`, dave.token, { isActive: false })).statusCode).toBe(403);
    expect((await api('POST', `/tenants/${orgA}/invitations`, dave.token, { email: 'x@a.example', role: 'viewer' })).statusCode).toBe(403);
    expect((await api('GET', `/tenants/${orgA}/audit-log`, dave.token)).statusCode).toBe(403);
    expect((await api('POST', `/tenants/${orgA}/projects`, dave.token, { name: 'by dave' })).statusCode).toBe(403);

    // admin: members and projects, but the owner role is the owners' to give.
    await ok('PATCH', `/tenants/${orgA}/members/${dave.id}`, alice.token, { role: 'admin' });
    expect((await api('POST', `/tenants/${orgA}/projects`, dave.token, { name: 'by dave' })).statusCode).toBe(201);
    expect((await api('PATCH', `/tenants/${orgA}/members/${carol.id}`, dave.token, { role: 'owner' })).statusCode).toBe(403);
    expect((await api('DELETE', `/tenants/${orgA}/members/${alice.id}`, dave.token)).statusCode).toBe(403);
    // The last owner stays.
    expect((await api('PATCH', `/tenants/${orgA}/members/${alice.id}`, alice.token, { role: 'admin' })).json()).toMatchObject({ code: 'failed_precondition' });
    expect((await api('DELETE', `/tenants/${orgA}/members/${carol.id}`, dave.token)).statusCode).toBe(204);
    expect((await api('GET', `/projects/${projectA}`, carol.token)).statusCode).toBe(404);

    const members = await ok<{ email: string; role: string }[]>('GET', `/tenants/${orgA}/members`, alice.token);
    expect(members.map((m) => [m.email, m.role])).toEqual([
      ['alice@a.example', 'owner'],
      ['dave@a.example', 'admin'],
    ]);
  });

  it('records who changed what in the audit log, for the organization admins only', async () => {
    await ok('POST', `/projects/${projectA}/applications`, ADMIN_TOKEN, { name: 'by the operator' });
    const { entries } = await ok<{ entries: { actor: string; action: string; entityType: string; entityId: string; at: string }[] }>('GET', `/tenants/${orgA}/audit-log`, alice.token);
    expect(entries.at(-1)).toMatchObject({ actor: alice.id, action: 'tenant.create', entityType: 'tenant', entityId: orgA });
    expect(entries).toContainEqual(expect.objectContaining({ actor: alice.id, action: 'project.create', entityId: projectA }));
    expect(entries).toContainEqual(expect.objectContaining({ action: 'invitation.accept', entityType: 'invitation' }));
    expect(entries[0]).toMatchObject({ actor: 'operator', action: 'application.create', entityType: 'application' });
    const page = await ok<{ entries: unknown[]; next: string }>('GET', `/tenants/${orgA}/audit-log?limit=2`, alice.token);
    expect(page.entries).toHaveLength(2);
    const rest = await ok<{ entries: unknown[] }>('GET', `/tenants/${orgA}/audit-log?before=${page.next}`, alice.token);
    expect(page.entries.length + rest.entries.length).toBe(entries.length);
  });

  it('pages the audit log from any seq PostgreSQL can hold, and answers 400 naming `before` beyond it', async () => {
    const all = await ok<{ entries: unknown[] }>('GET', `/tenants/${orgA}/audit-log`, alice.token);
    const fromMax = await ok<{ entries: unknown[] }>('GET', `/tenants/${orgA}/audit-log?before=9223372036854775807`, alice.token);
    expect(fromMax.entries).toHaveLength(all.entries.length);
    for (const before of ['9223372036854775808', '9999999999999999999', '18446744073709551616', '-1', '1e3', 'abc', '']) {
      const response = await api('GET', `/tenants/${orgA}/audit-log?before=${before}`, alice.token);
      // This test's filter stands in for the platform's problem+json mapper: status, code and detail.
      expect({ before, status: response.statusCode, body: response.json() as unknown }).toEqual({ before, status: 400, body: { code: 'invalid_argument', detail: 'invalid query: before' } });
    }
  });

  it('issues tokens for uploaded keys with client_key_id, and announces key creation, expiry and revocation', async () => {
    const project = (await ok<{ id: string }>('POST', `/tenants/${orgA}/projects`, alice.token, { name: 'Keys' })).id;
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const uploaded = await ok<{ clientId: string; keyId: string; origin: string }>('POST', `/projects/${project}/service-accounts/keys`, alice.token, {
      publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }),
    });
    expect(uploaded.origin).toBe('uploaded');
    const issued = await tokenRequest(uploaded.clientId, uploaded.keyId, privateKey);
    expect(issued.statusCode).toBe(200);
    const jwks = createLocalJWKSet((await app.inject({ method: 'GET', url: '/auth/public/.well-known/jwks.json' })).json());
    const { payload } = await jwtVerify(issued.json().access_token, jwks, { issuer: ISSUER, audience: 'borealis-push' });
    expect(payload).toMatchObject({ project_id: project, client_id: uploaded.clientId, client_key_id: uploaded.keyId });

    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' });
    expect((await api('POST', `/projects/${project}/service-accounts/keys`, alice.token, { publicKeyPem: ec })).statusCode).toBe(400);
    expect((await api('POST', `/projects/${project}/service-accounts/keys`, alice.token, { publicKeyPem: 'not a key' })).statusCode).toBe(400);

    // Expire now: refused at once, and announced.
    await ok('PATCH', `/projects/${project}/service-accounts/keys/${uploaded.keyId}`, alice.token, { expiresAt: '2000-01-01T00:00:00Z' });
    expect((await tokenRequest(uploaded.clientId, uploaded.keyId, privateKey)).json()).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
    expect((await api('PATCH', `/projects/${project}/service-accounts/keys/${uploaded.keyId}`, alice.token, { expiresAt: '2100-01-01T00:00:00Z' })).statusCode).toBe(409);
    await expectEventually(() => {
      expect(keyEvents(uploaded.keyId).map((e) => e.key)).toEqual([
        expect.objectContaining({ clientId: uploaded.clientId, projectId: project, revokedAtMs: null, expiresAtMs: null }),
        expect.objectContaining({ revokedAtMs: null, expiresAtMs: expect.any(Number) }),
      ]);
    });

    // A scheduled expiry is announced when it comes, without any request.
    const scheduled = await generatedKey(project, alice.token);
    const at = new Date(Date.now() + 1500);
    await ok('PATCH', `/projects/${project}/service-accounts/keys/${scheduled.kid}`, alice.token, { expiresAt: at.toISOString() });
    expect((await tokenRequest(scheduled.clientId, scheduled.kid, scheduled.key)).statusCode).toBe(200);
    await expectEventually(() => expect(keyEvents(scheduled.kid).at(-1)!.key.updatedAtMs).toBeGreaterThanOrEqual(at.getTime()), { timeoutMs: 10_000 });
    expect(keyEvents(scheduled.kid).map((e) => e.key.expiresAtMs)).toEqual([null, at.getTime(), at.getTime()]);
    expect((await tokenRequest(scheduled.clientId, scheduled.kid, scheduled.key)).statusCode).toBe(401);

    // Revocation: refused and announced.
    const revoked = await generatedKey(project, alice.token);
    expect((await tokenRequest(revoked.clientId, revoked.kid, revoked.key)).statusCode).toBe(200);
    expect((await api('DELETE', `/projects/${project}/service-accounts/keys/${revoked.kid}`, alice.token)).statusCode).toBe(204);
    expect((await tokenRequest(revoked.clientId, revoked.kid, revoked.key)).json()).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
    await expectEventually(() => expect(keyEvents(revoked.kid).at(-1)!.key.revokedAtMs).toEqual(expect.any(Number)));
    const keys = await ok<{ keyId: string; revokedAt: string | null }[]>('GET', `/projects/${project}/service-accounts/keys`, alice.token);
    expect(keys.find((k) => k.keyId === revoked.kid)!.revokedAt).toEqual(expect.any(String));
  });

  it('refuses tokens for a deactivated project, and again issues them once reactivated', async () => {
    const project = (await ok<{ id: string }>('POST', `/tenants/${orgA}/projects`, alice.token, { name: 'Switch' })).id;
    const key = await generatedKey(project, alice.token);
    await ok('PATCH', `/projects/${project}`, alice.token, { isActive: false });
    expect((await tokenRequest(key.clientId, key.kid, key.key)).json()).toMatchObject({ error: 'invalid_client', error_description: expect.stringContaining('inactive') });
    await ok('PATCH', `/projects/${project}`, alice.token, { isActive: true });
    expect((await tokenRequest(key.clientId, key.kid, key.key)).statusCode).toBe(200);
  });

  it('rate-limits the token endpoint per client and per address, with Retry-After', async () => {
    const project = (await ok<{ id: string }>('POST', `/tenants/${orgA}/projects`, alice.token, { name: 'Busy' })).id;
    const key = await generatedKey(project, alice.token);
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await tokenRequest(key.clientId, key.kid, key.key)).statusCode);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    const limited = await tokenRequest(key.clientId, key.kid, key.key);
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);

    const fromOneAddress = () => app.inject({ method: 'POST', url: '/auth/public/oauth2/token', remoteAddress: '10.9.9.9', payload: { grant_type: 'client_credentials' } });
    for (let i = 0; i < 200; i++) expect((await fromOneAddress()).statusCode).toBe(401);
    const blocked = await fromOneAddress();
    expect(blocked.statusCode).toBe(429);
    expect(blocked.headers['retry-after']).toEqual(expect.any(String));
  });

  it('describes itself in OpenAPI, with the access rule of every operation, and serves a UI', async () => {
    const doc = (await api('GET', '/openapi.json', null)).json();
    expect(doc.openapi).toBe('3.1.0');
    const operations = Object.entries(doc.paths as Record<string, Record<string, { 'x-borealis-access': unknown }>>).flatMap(([path, ops]) => Object.entries(ops).map(([m, op]) => ({ path, m, op })));
    expect(operations.length).toBeGreaterThanOrEqual(30);
    expect(operations.filter((o) => o.op['x-borealis-access'] === null)).toEqual([]);
    expect(doc.paths['/auth/admin/v1/tenants/{tenantId}/audit-log'].get['x-borealis-access']).toEqual({ kind: 'role', role: 'admin' });
    expect(doc.paths['/auth/admin/v1/accounts'].post.requestBody.content['application/json'].schema.required).toEqual(['email', 'password']);
    const ui = await app.inject({ method: 'GET', url: '/auth/admin/docs' });
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toContain('/auth/admin/v1/openapi.json');
    const asset = await app.inject({ method: 'GET', url: '/auth/admin/docs/static/swagger-ui-bundle.js' });
    expect([asset.statusCode, asset.headers['content-type']]).toEqual([200, 'application/javascript; charset=utf-8']);
    expect((await app.inject({ method: 'GET', url: '/auth/admin/docs/static/..%2Fpackage.json' })).statusCode).toBe(404);
  });

  it('issues an application registration secret once, publishes only its SHA-256, and removes it (issue 15, finding 5)', async () => {
    const app = await ok<{ id: string; registrationSecretRequired: boolean }>('POST', `/projects/${projectA}/applications`, alice.token, { name: 'guarded' });
    expect(app.registrationSecretRequired).toBe(false);
    const appEvents = () => events.filter((e): e is Extract<RegistryEventV1, { kind: 'application' }> => e.kind === 'application' && e.application.id === app.id);
    const issued = await ok<{ registrationSecret: string; registrationSecretRequired: boolean }>('POST', `/projects/${projectA}/applications/${app.id}/registration-secret`, alice.token);
    expect(issued.registrationSecret).toMatch(/^brs_[A-Za-z0-9_-]{40,}$/);
    expect(issued.registrationSecretRequired).toBe(true);
    const hash = createHash('sha256').update(issued.registrationSecret).digest('hex');
    await expectEventually(() => expect(appEvents().at(-1)?.application.registrationSecretHash).toBe(hash));
    expect(JSON.stringify(events)).not.toContain(issued.registrationSecret);
    // Listed as required, never shown again.
    const listed = await ok<{ id: string }[]>('GET', `/projects/${projectA}/applications`, alice.token);
    expect(listed.find((a) => a.id === app.id)).toEqual(expect.objectContaining({ registrationSecretRequired: true }));
    expect(JSON.stringify(listed)).not.toContain(issued.registrationSecret);
    // A new one replaces it.
    const again = await ok<{ registrationSecret: string }>('POST', `/projects/${projectA}/applications/${app.id}/registration-secret`, alice.token);
    expect(again.registrationSecret).not.toBe(issued.registrationSecret);
    await expectEventually(() => expect(appEvents().at(-1)?.application.registrationSecretHash).toBe(createHash('sha256').update(again.registrationSecret).digest('hex')));
    expect(await ok('DELETE', `/projects/${projectA}/applications/${app.id}/registration-secret`, alice.token)).toMatchObject({ registrationSecretRequired: false });
    await expectEventually(() => expect(appEvents().at(-1)?.application.registrationSecretHash).toBeNull());
  });

  it('sends the docs page and its files with security headers: a CSP that runs only its own scripts and forbids framing, nosniff (issue 15, finding 8)', async () => {
    const ui = await app.inject({ method: 'GET', url: '/auth/admin/docs' });
    const inline = /<script>([^<]*)<\/script>/.exec(ui.body)![1]!;
    const csp = String(ui.headers['content-security-policy'] ?? '');
    expect(csp).toContain(`script-src 'self' 'sha256-${createHash('sha256').update(inline).digest('base64')}'`);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    expect([ui.headers['x-content-type-options'], ui.headers['x-frame-options']]).toEqual(['nosniff', 'DENY']);
    for (const file of ['swagger-ui-bundle.js', 'swagger-ui.css', 'constructor']) {
      expect((await app.inject({ method: 'GET', url: `/auth/admin/docs/static/${file}` })).headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it.each(['constructor', '__proto__', 'toString', 'nothing-here.js'])('answers 404 for docs/static/%s, and does not let anyone cache the answer', async (name) => {
    const missing = await app.inject({ method: 'GET', url: `/auth/admin/docs/static/${name}` });
    expect({ status: missing.statusCode, cache: missing.headers['cache-control'] ?? null }).toEqual({ status: 404, cache: expect.not.stringMatching(/public|max-age/) });
    const asset = await app.inject({ method: 'GET', url: '/auth/admin/docs/static/swagger-ui.css' });
    expect([asset.statusCode, asset.headers['cache-control']]).toEqual([200, 'public, max-age=86400']);
  });
});
