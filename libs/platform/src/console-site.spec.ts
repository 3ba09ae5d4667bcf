import { Controller, Get } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONSOLE_CSP, ConsoleSiteModule, defaultConsoleDir } from './console-site';
import { configureHttpApp, createFastifyAdapter } from './http';

@Controller('auth/admin/v1')
class FakeAdminController {
  @Get('me')
  me(): { me: true } {
    return { me: true };
  }
}

@Controller()
class FakeHealthController {
  @Get('healthz')
  healthz(): { status: string } {
    return { status: 'ok' };
  }
}

const INDEX = '<!doctype html><html><head><script type="module" src="/assets/app-3f2a1b.js"></script></head><body><div id="root"></div></body></html>';
const SCRIPT = 'console.log("console");';
const SECRET = 'outside-the-console-directory';

async function appServing(dir: string): Promise<NestFastifyApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [ConsoleSiteModule.register(dir)], controllers: [FakeAdminController, FakeHealthController] }).compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(createFastifyAdapter(), { logger: false, bodyParser: false });
  configureHttpApp(app);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

describe('serving the web console (docs/adr/0008-console-serving.md)', () => {
  let root: string;
  let app: NestFastifyApplication;
  let unbuilt: NestFastifyApplication;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'borealis-console-'));
    const dir = join(root, 'console');
    mkdirSync(join(dir, 'assets'), { recursive: true });
    writeFileSync(join(dir, 'index.html'), INDEX);
    writeFileSync(join(dir, 'assets', 'app-3f2a1b.js'), SCRIPT);
    writeFileSync(join(dir, 'assets', 'app-3f2a1b.css'), 'body{margin:0}');
    writeFileSync(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    writeFileSync(join(root, 'secret.txt'), SECRET);
    app = await appServing(dir);
    mkdirSync(join(root, 'empty'));
    unbuilt = await appServing(join(root, 'empty'));
  });

  afterAll(async () => {
    await app?.close();
    await unbuilt?.close();
    rmSync(root, { recursive: true, force: true });
  });

  const expectConsoleHeaders = (headers: Record<string, unknown>) => {
    expect(headers['content-security-policy']).toBe(
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(headers['referrer-policy']).toBe('no-referrer');
  };

  it('serves index.html at / with the CSP, nosniff, no referrer, and no-cache', async () => {
    const response = await app.inject({ method: 'GET', url: '/' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe(INDEX);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-cache');
    expectConsoleHeaders(response.headers);
    expect(CONSOLE_CSP).not.toContain('unsafe-inline');
    expect((await app.inject({ method: 'HEAD', url: '/' })).statusCode).toBe(200);
  });

  it('answers index.html for client-side routes, query strings included', async () => {
    for (const url of ['/invitations/accept?token=bci_abc', '/projects/0193/messages', '/sign-in', '/projects/', '/a/b/c/d']) {
      const response = await app.inject({ method: 'GET', url });
      expect([url, response.statusCode, response.body]).toEqual([url, 200, INDEX]);
      expect(response.headers['cache-control']).toBe('no-cache');
      expectConsoleHeaders(response.headers);
    }
  });

  it('serves the hashed assets as immutable, other files as no-cache, each with its content type', async () => {
    const script = await app.inject({ method: 'GET', url: '/assets/app-3f2a1b.js' });
    expect([script.statusCode, script.body, script.headers['content-type'], script.headers['cache-control']]).toEqual([
      200,
      SCRIPT,
      'text/javascript; charset=utf-8',
      'public, max-age=31536000, immutable',
    ]);
    expectConsoleHeaders(script.headers);
    expect((await app.inject({ method: 'GET', url: '/assets/app-3f2a1b.css' })).headers['content-type']).toBe('text/css; charset=utf-8');
    const icon = await app.inject({ method: 'GET', url: '/favicon.svg' });
    expect([icon.statusCode, icon.headers['content-type'], icon.headers['cache-control']]).toEqual([200, 'image/svg+xml', 'no-cache']);
  });

  it('answers 404 problem+json for a missing asset, not the page (a stale page must not run HTML as script)', async () => {
    const response = await app.inject({ method: 'GET', url: '/assets/app-000000.js' });
    expect(response.statusCode).toBe(404);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({ code: 'not_found' });
    expectConsoleHeaders(response.headers);
  });

  it('leaves the API and operations paths to their routes: known ones answer, unknown ones are 404 problem+json, never the page', async () => {
    expect((await app.inject({ method: 'GET', url: '/auth/admin/v1/me' })).json()).toEqual({ me: true });
    expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    for (const url of ['/auth/admin/v1/nope', '/auth/', '/push/public/api/v1/nope', '/internal/v1/x', '/metrics', '/readyz', '/health/x']) {
      const response = await app.inject({ method: 'GET', url });
      expect([url, response.statusCode, String(response.headers['content-type']).split(';')[0]]).toEqual([url, 404, 'application/problem+json']);
      expect(response.body).not.toContain('<html');
    }
    expect((await app.inject({ method: 'POST', url: '/' })).statusCode).toBe(404);
  });

  it('never serves a file outside its directory', async () => {
    for (const url of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/..%2fsecret.txt', '/assets/%2e%2e/%2e%2e/secret.txt', '/%E0%A4%A']) {
      const response = await app.inject({ method: 'GET', url });
      expect(response.body).not.toContain(SECRET);
      // 400: a percent-encoding that does not decode, refused by the router itself.
      expect([200, 400, 404]).toContain(response.statusCode);
    }
  });

  it('answers 404 problem+json "the console is not built" when there is no index.html, and the APIs still work', async () => {
    for (const url of ['/', '/invitations/accept?token=x', '/assets/app.js']) {
      const response = await unbuilt.inject({ method: 'GET', url });
      expect([url, response.statusCode, String(response.headers['content-type']).split(';')[0]]).toEqual([url, 404, 'application/problem+json']);
      expect(response.json()).toMatchObject({ code: 'not_found', detail: expect.stringContaining('the console is not built') });
    }
    expect((await unbuilt.inject({ method: 'GET', url: '/auth/admin/v1/me' })).json()).toEqual({ me: true });
    // A directory that does not exist at all is the same.
    const missing = await appServing(join(root, 'does-not-exist'));
    expect((await missing.inject({ method: 'GET', url: '/' })).statusCode).toBe(404);
    await missing.close();
  });

  it('finds dist/apps/console from the source tree and from dist/', () => {
    expect(defaultConsoleDir()).toMatch(/[/\\]dist[/\\]apps[/\\]console$/);
    expect(defaultConsoleDir()).not.toMatch(/dist[/\\]dist/);
  });
});
