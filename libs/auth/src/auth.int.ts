import { Catch, Global, Module, type ArgumentsHost, type DynamicModule, type ExceptionFilter } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { FastifyReply } from 'fastify';
import { randomBytes, randomUUID } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, importPKCS8, jwtVerify, SignJWT, type JSONWebKeySet } from 'jose';
import { Client } from 'pg';
import { DomainError, OAuthError, Topics, type RegistryEventV1, type TopicDef } from '@borealis/contracts';
import { MemoryRateLimiter, MemoryReplayGuard, RateLimiter, ReplayGuard } from '@borealis/keyvalue';
import { InProcessMessageBus, MessageBus, type PublishRecord, type Subscription } from '@borealis/messaging';
import { createTestDatabase, expectEventually, type TestDatabase } from '@borealis/testing';
import { Clock, SystemClock } from '@borealis/util';
import { AuthModule, type AuthModuleOptions } from './index';

const ADMIN_TOKEN = 'test-admin-token-0123456789abcdefghijklmnop';
const ISSUER = 'http://127.0.0.1:8080/auth/public';
const TOKEN_URL = `${ISSUER}/oauth2/token`;
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** The platform's mapping, reduced to what these routes produce. */
const STATUS: Record<string, number> = { invalid_argument: 400, unauthenticated: 401, permission_denied: 403, not_found: 404, conflict: 409, failed_precondition: 409, rate_limited: 429 };
@Catch()
class PlatformLikeErrorFilter implements ExceptionFilter {
  catch(err: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    if (err instanceof OAuthError) void reply.status(err.status).send({ error: err.error, error_description: err.description });
    else if (err instanceof DomainError) void reply.status(STATUS[err.code] ?? 500).send({ code: err.code, detail: err.message, errors: err.details.fields });
    else void reply.status(500).send({ code: 'internal', detail: String(err) });
  }
}

/** Delegates to the in-process bus, or fails every publish while `failing` (a broker outage). */
class SwitchableBus extends MessageBus {
  failing = false;
  failedPublishes = 0;
  constructor(private readonly inner: InProcessMessageBus) {
    super();
  }
  async publish<T>(topic: TopicDef<T>, records: PublishRecord<T>[]): Promise<void> {
    if (this.failing) {
      this.failedPublishes++;
      throw new Error('broker unavailable');
    }
    await this.inner.publish(topic, records);
  }
  subscribe<T>(subscription: Subscription<T>): Promise<void> {
    return this.inner.subscribe(subscription);
  }
  start(): Promise<void> {
    return this.inner.start();
  }
  stop(): Promise<void> {
    return this.inner.stop();
  }
  isReady(): boolean {
    return this.inner.isReady();
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

/** Nest's Fastify adapter parses form-urlencoded bodies into objects itself, as the platform's does. */
async function startApp(options: AuthModuleOptions, bus: MessageBus): Promise<NestFastifyApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [platformDrivers(bus), AuthModule.register(options)] }).compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter({ routerOptions: { ignoreDuplicateSlashes: true } }), { logger: false });
  app.useGlobalFilters(new PlatformLikeErrorFilter());
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

interface Settings {
  push_notification_system: Record<'project_id' | 'push_public_address' | 'api_url' | 'client_id' | 'scopes' | 'audience' | 'token_url' | 'private_key' | 'key_id', string>;
}

describe('AuthModule against PostgreSQL', () => {
  let db: TestDatabase;
  let options: AuthModuleOptions;
  let inner: InProcessMessageBus;
  let bus: SwitchableBus;
  let app: NestFastifyApplication;
  const events: RegistryEventV1[] = [];

  const admin = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object, token = ADMIN_TOKEN) =>
    app.inject({ method, url: `/auth/admin/v1${url}`, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });

  async function signAssertion(settings: Settings, claims: Record<string, unknown> = {}): Promise<string> {
    const s = settings.push_notification_system;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ jti: randomUUID(), ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: s.key_id })
      .setIssuer(s.client_id)
      .setSubject(s.client_id)
      .setAudience(s.token_url)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(await importPKCS8(s.private_key, 'RS256'));
  }

  async function requestToken(settings: Settings, form = false, assertion?: string) {
    const s = settings.push_notification_system;
    const params = { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: assertion ?? (await signAssertion(settings)), scope: s.scopes, audience: s.audience };
    return form
      ? app.inject({ method: 'POST', url: '/auth/public/oauth2/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(params).toString() })
      : app.inject({ method: 'POST', url: '/auth/public/oauth2/token', payload: params });
  }

  async function jwks(): Promise<JSONWebKeySet> {
    const response = await app.inject({ method: 'GET', url: '/auth/public/.well-known/jwks.json' });
    expect(response.statusCode).toBe(200);
    return response.json();
  }

  async function newProject(name: string): Promise<{ tenantId: string; projectId: string; settings: Settings }> {
    const tenant = await admin('POST', '/tenants', { name: `tenant ${name}` });
    const project = await admin('POST', `/tenants/${tenant.json().id}/projects`, { name });
    const account = await admin('POST', `/projects/${project.json().id}/service-accounts`, {});
    expect([tenant.statusCode, project.statusCode, account.statusCode]).toEqual([201, 201, 201]);
    return { tenantId: tenant.json().id, projectId: project.json().id, settings: account.json().settings };
  }

  beforeAll(async () => {
    db = await createTestDatabase('auth');
    options = {
      databaseUrl: db.url,
      issuer: ISSUER,
      tokenUrl: TOKEN_URL,
      audiences: ['borealis-push'],
      accessTokenTtlSeconds: 3600,
      adminToken: ADMIN_TOKEN,
      signingKeyEncryptionKey: randomBytes(32),
      publicApiUrl: 'http://127.0.0.1:8080/push/public/api/v1/',
      pushPublicAddress: 'tcp://127.0.0.1:5228',
    };
    inner = new InProcessMessageBus();
    await inner.subscribe({
      topic: Topics.registry,
      group: 'test-registry-view',
      handler: async (messages) => {
        events.push(...messages.map((m) => m.value));
      },
    });
    await inner.start();
    bus = new SwitchableBus(inner);
    app = await startApp(options, bus);
  });

  afterAll(async () => {
    await app?.close();
    await inner?.stop();
    await db?.drop();
  });

  it('refuses admin requests without the operator token', async () => {
    const missing = await app.inject({ method: 'POST', url: '/auth/admin/v1/tenants', payload: { name: 'x' } });
    const wrong = await admin('POST', '/tenants', { name: 'x' }, `${ADMIN_TOKEN}x`);
    const basic = await app.inject({ method: 'GET', url: '/auth/admin/v1/projects/x', headers: { authorization: `Basic ${ADMIN_TOKEN}` } });
    for (const response of [missing, wrong, basic]) {
      expect(response.statusCode).toBe(401);
      expect(response.json().code).toBe('unauthenticated');
    }
  });

  it('validates admin requests', async () => {
    const noName = await admin('POST', '/tenants', { name: '   ' });
    expect(noName.statusCode).toBe(400);
    expect(noName.json()).toMatchObject({ code: 'invalid_argument', errors: { name: expect.any(String) } });
    const badFlag = await admin('PATCH', '/projects/whatever', { isActive: 'yes' });
    expect(badFlag.statusCode).toBe(400);
    expect(badFlag.json().errors).toHaveProperty('isActive');
    expect((await admin('POST', '/tenants/no-such-tenant/projects', { name: 'p' })).json().code).toBe('not_found');
    expect((await admin('GET', '/projects/no-such-project')).statusCode).toBe(404);
    expect((await admin('POST', '/projects/no-such-project/service-accounts', {})).statusCode).toBe(404);
    expect((await admin('POST', '/projects/no-such-project/applications', { name: 'a' })).statusCode).toBe(404);
  });

  it('creates tenants, projects, service accounts and applications, and publishes their state', async () => {
    const tenant = await admin('POST', '/tenants', { name: 'Acme' });
    expect(tenant.statusCode).toBe(201);
    expect(tenant.json()).toEqual({ id: expect.any(String), name: 'Acme', createdAt: expect.any(String) });
    expect((await admin('POST', '/tenants', { name: 'Acme' })).json()).toMatchObject({ code: 'conflict' });

    const project = await admin('POST', `/tenants/${tenant.json().id}/projects`, { name: 'Weather' });
    expect(project.statusCode).toBe(201);
    const projectId: string = project.json().id;
    expect(project.json()).toEqual({ id: projectId, tenantId: tenant.json().id, name: 'Weather', isActive: true, createdAt: expect.any(String), updatedAt: expect.any(String) });

    const account = await admin('POST', `/projects/${projectId}/service-accounts`, {});
    expect(account.statusCode).toBe(201);
    const { clientId, keyId, scopes, settings } = account.json();
    expect(scopes).toEqual(['openid', 'offline', 'message:update', 'project:read']);
    expect(settings).toEqual({
      push_notification_system: {
        project_id: projectId,
        push_public_address: 'tcp://127.0.0.1:5228',
        api_url: 'http://127.0.0.1:8080/push/public/api/v1/',
        client_id: clientId,
        scopes: 'openid offline message:update project:read',
        audience: 'borealis-push',
        token_url: TOKEN_URL,
        private_key: expect.stringContaining('-----BEGIN PRIVATE KEY-----'),
        key_id: keyId,
      },
    });

    // A second call adds a key to the same account.
    const second = await admin('POST', `/projects/${projectId}/service-accounts`);
    expect(second.json()).toMatchObject({ clientId });
    expect(second.json().keyId).not.toBe(keyId);

    const detail = await admin('GET', `/projects/${projectId}`);
    expect(detail.json()).toMatchObject({ id: projectId, isActive: true, serviceAccount: { clientId, scopes } });
    expect(detail.json().serviceAccount.keys.map((k: { keyId: string }) => k.keyId).sort()).toEqual([keyId, second.json().keyId].sort());
    expect(detail.body).not.toContain('PRIVATE KEY');

    const application = await admin('POST', `/projects/${projectId}/applications`, { name: 'Android' });
    expect(application.statusCode).toBe(201);
    expect(application.json()).toEqual({ id: expect.stringMatching(/^app_[A-Za-z0-9_-]{22}$/), projectId, name: 'Android', isActive: true, registrationSecretRequired: false, createdAt: expect.any(String), updatedAt: expect.any(String) });
    const applicationId: string = application.json().id;
    const deactivated = await admin('PATCH', `/projects/${projectId}/applications/${applicationId}`, { isActive: false });
    expect(deactivated.json()).toMatchObject({ id: applicationId, isActive: false });
    expect((await admin('PATCH', `/projects/other/applications/${applicationId}`, { isActive: true })).statusCode).toBe(404);

    await expectEventually(() => {
      const mine = events.filter((e) => (e.kind === 'project' ? e.project.id === projectId : e.kind === 'application' && e.application.projectId === projectId));
      expect(mine).toEqual([
        { kind: 'project', project: expect.objectContaining({ id: projectId, tenantId: tenant.json().id, name: 'Weather', isActive: true, serviceAccount: null }) },
        { kind: 'project', project: expect.objectContaining({ id: projectId, serviceAccount: { clientId, createdAtMs: expect.any(Number) } }) },
        { kind: 'application', application: expect.objectContaining({ id: applicationId, projectId, name: 'Android', isActive: true }) },
        { kind: 'application', application: expect.objectContaining({ id: applicationId, isActive: false }) },
      ]);
    });
  });

  it('issues access tokens for assertions signed with the handed-out key, from JSON and form bodies', async () => {
    const { projectId, settings } = await newProject('Tokens');
    for (const form of [false, true]) {
      const response = await requestToken(settings, form);
      expect(response.statusCode).toBe(200);
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.headers['pragma']).toBe('no-cache');
      const body = response.json();
      expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'openid offline message:update project:read' });
      // RFC 3339 to JSON requests (Aurora clients), epoch seconds to form-encoded ones (OAuth libraries).
      expect(typeof body.expires_at).toBe(form ? 'number' : 'string');
      expect(form ? body.expires_at * 1000 : Date.parse(body.expires_at)).toBeGreaterThan(Date.now() + 3500_000);
      const { payload, protectedHeader } = await jwtVerify(body.access_token, createLocalJWKSet(await jwks()), { algorithms: ['RS256'], issuer: ISSUER, audience: 'borealis-push' });
      expect(protectedHeader.typ).toBe('at+jwt');
      expect(payload).toMatchObject({ project_id: projectId, client_id: settings.push_notification_system.client_id, scope: body.scope });
    }
  });

  it('accepts an hour-long assertion without kid, verified by the client\'s active keys in PostgreSQL', async () => {
    const { settings } = await newProject('No kid');
    const s = settings.push_notification_system;
    const now = Math.floor(Date.now() / 1000);
    const withoutKid = await new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuer(s.client_id)
      .setSubject(s.client_id)
      .setAudience(s.token_url)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(await importPKCS8(s.private_key, 'RS256'));
    const response = await requestToken(settings, true, withoutKid);
    expect(response.statusCode).toBe(200);
    const { payload } = await jwtVerify(response.json().access_token, createLocalJWKSet(await jwks()), { algorithms: ['RS256'] });
    expect(payload.client_key_id).toBe(s.key_id);
    // Revoked, the key verifies no assertion without kid either.
    const projectId = s.project_id;
    expect((await admin('DELETE', `/projects/${projectId}/service-accounts/keys/${s.key_id}`)).statusCode).toBe(204);
    const refused = await requestToken(settings, true, await new SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg: 'RS256' }).setIssuer(s.client_id).setSubject(s.client_id).setAudience(s.token_url).setIssuedAt(now).setExpirationTime(now + 60).sign(await importPKCS8(s.private_key, 'RS256')));
    expect(refused.json()).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
  });

  it('refuses a replayed assertion with invalid_client', async () => {
    const { settings } = await newProject('Replay');
    const assertion = await signAssertion(settings);
    expect((await requestToken(settings, false, assertion)).statusCode).toBe(200);
    const replay = await requestToken(settings, true, assertion);
    expect(replay.statusCode).toBe(401);
    expect(replay.json()).toEqual({ error: 'invalid_client', error_description: expect.stringContaining('already used') });
  });

  it('refuses an unknown client and a wrong signature alike', async () => {
    const { settings } = await newProject('Oracle');
    const other = await newProject('Oracle 2');
    const unknown = await requestToken({ push_notification_system: { ...settings.push_notification_system, client_id: 'nobody' } });
    const badSignature = await requestToken({ push_notification_system: { ...settings.push_notification_system, private_key: other.settings.push_notification_system.private_key } });
    expect([unknown.statusCode, badSignature.statusCode]).toEqual([401, 401]);
    expect(unknown.json()).toEqual(badSignature.json());
  });

  it('stops issuing tokens for inactive projects and revoked keys', async () => {
    const { projectId, settings } = await newProject('Lifecycle');
    const off = await admin('PATCH', `/projects/${projectId}`, { isActive: false });
    expect(off.json()).toMatchObject({ id: projectId, isActive: false });
    expect((await requestToken(settings)).json().error).toBe('invalid_client');
    await expectEventually(() => expect(events.some((e) => e.kind === 'project' && e.project.id === projectId && !e.project.isActive && e.project.serviceAccount !== null)).toBe(true));
    await admin('PATCH', `/projects/${projectId}`, { isActive: true });
    expect((await requestToken(settings)).statusCode).toBe(200);

    const keyId = settings.push_notification_system.key_id;
    expect((await admin('DELETE', `/projects/${projectId}/service-accounts/keys/${keyId}`)).statusCode).toBe(204);
    expect((await admin('DELETE', `/projects/${projectId}/service-accounts/keys/nope`)).statusCode).toBe(404);
    expect((await admin('GET', `/projects/${projectId}`)).json().serviceAccount.keys[0].revokedAt).toEqual(expect.any(String));
    const refused = await requestToken(settings);
    expect(refused.json()).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
  });

  it('serves discovery, and rotates the signing key keeping the previous one in the JWKS', async () => {
    const discovery = await app.inject({ method: 'GET', url: '/auth/public/.well-known/openid-configuration' });
    expect(discovery.json()).toEqual({
      issuer: ISSUER,
      token_endpoint: TOKEN_URL,
      jwks_uri: `${ISSUER}/.well-known/jwks.json`,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS256'],
      scopes_supported: ['openid', 'offline', 'message:update', 'project:read'],
    });

    const { settings } = await newProject('Rotation');
    const before = (await requestToken(settings)).json().access_token;
    const rotated = await admin('POST', '/signing-keys');
    expect(rotated.statusCode).toBe(201);
    const keySet = await jwks();
    expect(keySet.keys.map((k) => k.kid)).toEqual([rotated.json().kid, decodeProtectedHeader(before).kid]);
    const after = (await requestToken(settings)).json().access_token;
    expect(decodeProtectedHeader(after).kid).toBe(rotated.json().kid);
    for (const token of [before, after]) await expect(jwtVerify(token, createLocalJWKSet(keySet))).resolves.toBeDefined();
  });

  it('keeps registry events through a broker outage and a restart, and publishes them on start', async () => {
    const { projectId } = await newProject('Outage');
    bus.failing = true;
    const failedBefore = bus.failedPublishes;
    const application = await admin('POST', `/projects/${projectId}/applications`, { name: 'During outage' });
    expect(application.statusCode).toBe(201);
    await expectEventually(() => expect(bus.failedPublishes).toBeGreaterThan(failedBefore));
    const pending = new Client({ connectionString: db.url });
    await pending.connect();
    try {
      const rows = await pending.query("SELECT count(*)::int AS n FROM registry_outbox WHERE published_at IS NULL AND payload->'application'->>'id' = $1", [application.json().id]);
      expect(rows.rows[0].n).toBe(1);
    } finally {
      await pending.end();
    }
    const kidBefore = (await jwks()).keys[0]!.kid;

    await app.close();
    bus.failing = false;
    app = await startApp(options, bus);
    await expectEventually(() => expect(events).toContainEqual({ kind: 'application', application: expect.objectContaining({ id: application.json().id, name: 'During outage' }) }));
    expect((await jwks()).keys[0]!.kid).toBe(kidBefore);
  });
});
