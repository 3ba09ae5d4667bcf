import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jwtVerify } from 'jose';
import { stringify } from 'yaml';
import { loadProjectSettings, ProjectSettingsError, PushApiError, PushServerClient } from './index';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const dir = mkdtempSync(join(tmpdir(), 'borealis-sdk-'));
let server: Server;
let origin: string;
const seen: { method: string; path: string; authorization?: string }[] = [];

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return JSON.parse(text) as Record<string, unknown>;
}

/** Plays auth's token endpoint (verifying the client assertion) and the push API. */
beforeAll(async () => {
  server = createServer((req, res) => {
    void (async () => {
      seen.push({ method: req.method!, path: req.url!, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
      const json = (status: number, body: unknown, type = 'application/json') => res.writeHead(status, { 'content-type': type }).end(JSON.stringify(body));
      if (req.method === 'POST' && req.url === '/auth/public/oauth2/token') {
        const body = await readBody(req);
        try {
          await jwtVerify(String(body['client_assertion']), publicKey, { algorithms: ['RS256'], issuer: 'client-1', subject: 'client-1', audience: `${origin}/auth/public/oauth2/token` });
        } catch {
          return json(401, { error: 'invalid_client', error_description: 'assertion does not verify' });
        }
        return json(200, { access_token: 'at-1', token_type: 'Bearer', expires_in: 600, scope: body['scope'] });
      }
      if (req.headers.authorization !== 'Bearer at-1') return json(401, { status: 401, code: 'unauthenticated', title: 'Unauthenticated', detail: 'bad token' }, 'application/problem+json');
      if (req.method === 'POST' && req.url === '/push/public/api/v1/projects/proj-1/messages') {
        const body = await readBody(req);
        return json(200, { id: `id-for-${String(body['target'])}` });
      }
      json(404, { status: 404, code: 'not_found', title: 'Not found', detail: `no ${req.url}` }, 'application/problem+json');
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

function writeSettings(overrides: Record<string, unknown> = {}): string {
  const path = join(dir, `settings-${seen.length}.yaml`);
  const root = {
    project_id: 'proj-1',
    push_public_address: origin,
    api_url: `${origin}/push/public/api/v1/`,
    client_id: 'client-1',
    scopes: 'openid message:update project:read',
    audience: 'borealis',
    token_url: `${origin}/auth/public/oauth2/token`,
    private_key: privateKey.export({ type: 'pkcs1', format: 'pem' }),
    key_id: 'key-1',
    ...overrides,
  };
  writeFileSync(path, stringify({ push_notification_system: root }));
  return path;
}

describe('PushServerClient over HTTP', () => {
  it('loads a settings file, obtains a token with a verified assertion and sends', async () => {
    const client = new PushServerClient(loadProjectSettings(writeSettings()));
    await expect(client.sendMessage({ target: 'reg-9', notification: { title: 't', message: 'm' } })).resolves.toEqual({ id: 'id-for-reg-9' });
    await expect(client.sendMessage({ target: 'reg-10', notification: { title: 't', message: 'm' } })).resolves.toEqual({ id: 'id-for-reg-10' });
    const recent = seen.slice(-3);
    expect(recent.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /auth/public/oauth2/token',
      'POST /push/public/api/v1/projects/proj-1/messages',
      'POST /push/public/api/v1/projects/proj-1/messages',
    ]);
    expect(recent[1]!.authorization).toBe('Bearer at-1');
  });

  it('reports a refused assertion and a problem+json answer as PushApiError', async () => {
    const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' });
    const forged = new PushServerClient(loadProjectSettings(writeSettings({ private_key: otherKey })));
    await expect(forged.getAccessToken()).rejects.toMatchObject({ status: 401, code: 'invalid_client', detail: 'assertion does not verify' });

    const client = new PushServerClient(loadProjectSettings(writeSettings()));
    const err = await client.getMessageStatus('m1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PushApiError);
    expect(err).toMatchObject({ status: 404, code: 'not_found', detail: 'no /push/public/api/v1/projects/proj-1/messages/m1' });
  });

  it('names the file when it cannot be read', () => {
    const missing = join(dir, 'absent.yaml');
    expect(() => loadProjectSettings(missing)).toThrow(ProjectSettingsError);
    expect(() => loadProjectSettings(missing)).toThrow(missing);
  });
});
