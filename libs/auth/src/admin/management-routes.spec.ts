import { Controller, Get, UseGuards } from '@nestjs/common';
import { AccessGuard } from '../access/access.guard';
import { AuthModule } from '../auth.module';
import { routesOf } from './management-routes';

const options = {
  databaseUrl: 'postgres://unused/none',
  issuer: 'http://auth.test/auth/public',
  tokenUrl: 'http://auth.test/auth/public/oauth2/token',
  audiences: ['borealis-push'],
  accessTokenTtlSeconds: 3600,
  adminToken: 'x'.repeat(32),
  signingKeyEncryptionKey: Buffer.alloc(32, 7),
  publicApiUrl: 'http://auth.test/push/public/api/v1/',
  pushPublicAddress: 'tcp://auth.test:5228',
};

describe('management routes', () => {
  const controllers = AuthModule.register(options).controllers ?? [];
  const routes = routesOf(controllers);
  const management = routes.filter((r) => r.path.startsWith('/auth/admin/'));

  it('finds every controller route of AuthModule, including the management API', () => {
    expect(routes.map((r) => `${r.method} ${r.path}`)).toEqual(
      expect.arrayContaining([
        'POST /auth/public/oauth2/token',
        'GET /auth/public/.well-known/jwks.json',
        'POST /auth/admin/v1/tenants',
        'GET /auth/admin/v1/tenants/:tenantId/audit-log',
        'DELETE /auth/admin/v1/projects/:projectId/service-accounts/keys/:keyId',
      ]),
    );
    expect(management.length).toBeGreaterThanOrEqual(30);
  });

  it('every management route declares an access rule and sits behind the access guard', () => {
    const unguarded = management.filter((r) => r.access === undefined).map((r) => `${r.method} ${r.path} (${r.controller}.${r.handler})`);
    expect(unguarded).toEqual([]);
    const withoutGuard = controllers.filter((c) => routesOf([c]).some((r) => r.path.startsWith('/auth/admin/')) && !(Reflect.getMetadata('__guards__', c) ?? []).includes(AccessGuard));
    expect(withoutGuard.map((c) => c.name)).toEqual([]);
  });

  it('role-checked routes name the organization they check against', () => {
    const unscoped = management.filter((r) => r.access?.kind === 'role' && !/:(tenantId|projectId)\b/.test(r.path)).map((r) => `${r.method} ${r.path}`);
    expect(unscoped).toEqual([]);
  });

  it('public management routes are exactly sign-up, login (Bearer and console cookie), the operator console sign-in and the API description', () => {
    const open = management.filter((r) => r.access?.kind === 'public').map((r) => `${r.method} ${r.path}`);
    expect(open.sort()).toEqual(['GET /auth/admin/docs', 'GET /auth/admin/docs/static/:asset', 'GET /auth/admin/v1/openapi.json', 'POST /auth/admin/v1/accounts',
      'POST /auth/admin/v1/console/operator-session',
      'POST /auth/admin/v1/console/session',
      'POST /auth/admin/v1/sessions',
    ]);
  });

  it('detects a route that forgot its rule', () => {
    @Controller('auth/admin/v1/forgotten')
    @UseGuards(AccessGuard)
    class ForgetfulController {
      @Get()
      list(): string[] {
        return [];
      }
    }
    expect(routesOf([ForgetfulController]).filter((r) => r.access === undefined)).toHaveLength(1);
  });
});
