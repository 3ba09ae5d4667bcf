import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { runCli, type JsonLineProcess } from '@borealis/testing';
import { registrationIdOf, startDevice, startStandalone } from './support';

jest.setTimeout(120_000);

/**
 * An app server written only from the public Aurora OS Notification Service docs (the PyJWT +
 * requests recipe, here with node:crypto and fetch; nothing of Borealis's own SDKs): settings file →
 * RS256 client assertion → token → GET {api_url}/projects/{id} → POST {api_url}/projects/{id}/messages,
 * with api_url and the path joined literally (api_url ends in "/", so the path has "//").
 */
interface AuroraSettings {
  project_id: string;
  push_public_address: string;
  api_url: string;
  client_id: string;
  scopes: string;
  audience: string;
  token_url: string;
  private_key: string;
  key_id: string;
}

function loadSettings(file: string): AuroraSettings {
  return (parse(readFileSync(file, 'utf8')) as { push_notification_system: AuroraSettings }).push_notification_system;
}

const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": key_id}) */
function clientAssertion(s: AuroraSettings): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'RS256', typ: 'JWT', kid: s.key_id };
  const claims = { iss: s.client_id, sub: s.client_id, aud: s.token_url, exp: now + 60, iat: now, jti: randomUUID() };
  const input = `${b64url(header)}.${b64url(claims)}`;
  const signature = sign('RSA-SHA256', Buffer.from(input), createPrivateKey(s.private_key)).toString('base64url');
  return `${input}.${signature}`;
}

async function requestToken(s: AuroraSettings): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(s.token_url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: clientAssertion(s),
      scope: s.scopes,
      audience: s.audience,
    }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('an app server written from the Aurora docs, against a standalone Borealis', () => {
  const work = mkdtempSync(join(tmpdir(), 'borealis-aurora-'));
  chmodSync(work, 0o755);
  const dataDir = join(work, 'data');
  const adminEnv = { BOREALIS_DATA_DIR: dataDir };
  let server: JsonLineProcess;
  let device: JsonLineProcess | undefined;
  let httpUrl: string;
  let deviceUrl: string;

  beforeAll(async () => {
    ({ server, httpUrl, deviceUrl } = await startStandalone(dataDir));
  });

  afterAll(async () => {
    await device?.stop();
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('gets a token, reads its project and sends a push that reaches the device', async () => {
    const created = await runCli(['admin', 'quickstart', '--out', join(work, 'app-server'), '--server', httpUrl, '--name', 'aurora'], adminEnv);
    const s = loadSettings(String(created['settings']));
    expect(s.api_url.endsWith('/')).toBe(true);

    const token = await requestToken(s);
    expect(token.status).toBe(200);
    expect(token.body).toMatchObject({ token_type: 'Bearer', expires_in: expect.any(Number), scope: s.scopes });
    expect(Date.parse(String(token.body['expires_at']))).toBeGreaterThan(Date.now());
    const authorization = `Bearer ${String(token.body['access_token'])}`;

    const project = await fetch(s.api_url + '/projects/' + s.project_id, { headers: { Authorization: authorization } });
    expect(project.status).toBe(200);
    expect(await project.json()).toMatchObject({ id: s.project_id, isActive: true, serviceAccount: expect.objectContaining({ clientId: s.client_id }) });

    device = startDevice(deviceUrl, String(created['application_id']), join(work, 'device'));
    const registrationId = await registrationIdOf(device);
    const sent = await fetch(s.api_url + '/projects/' + s.project_id + '/messages', {
      method: 'POST',
      headers: { Authorization: authorization, 'Content-Type': 'application/json' },
      body: JSON.stringify({ target: registrationId, type: 'device', ttl: '5h30m', notification: { title: 'Aurora', message: 'from the docs', data: { n: 1 } } }),
    });
    expect(sent.status).toBe(200);
    const { id } = (await sent.json()) as { id: string };
    expect(typeof id).toBe('string');
    await device.waitFor((l) => l['event'] === 'notifications' && (l['pushList'] as { id: string }[]).some((p) => p.id === id), 30_000, `push ${id}`);
  });

  it('sends title-only, message-only and data-only (silent) pushes, as the Aurora docs allow, and each arrives', async () => {
    const created = await runCli(['admin', 'quickstart', '--out', join(work, 'optional'), '--server', httpUrl, '--name', 'optional'], adminEnv);
    const s = loadSettings(String(created['settings']));
    const authorization = `Bearer ${String((await requestToken(s)).body['access_token'])}`;
    const app = startDevice(deviceUrl, String(created['application_id']), join(work, 'optional-device'));
    try {
      const registrationId = await registrationIdOf(app);
      const send = async (notification: object) => {
        const response = await fetch(s.api_url + '/projects/' + s.project_id + '/messages', {
          method: 'POST',
          headers: { Authorization: authorization, 'Content-Type': 'application/json' },
          body: JSON.stringify({ target: registrationId, type: 'device', notification }),
        });
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };
      const cases = [
        { notification: { title: 'Only a title' }, seen: { title: 'Only a title', message: '', data: '' } },
        { notification: { message: 'Only a message' }, seen: { title: '', message: 'Only a message', data: '' } },
        { notification: { data: { sync: 7 } }, seen: { title: '', message: '', data: '{"sync":7}', silent: true } },
      ];
      for (const { notification, seen } of cases) {
        const sent = await send(notification);
        expect(sent.status).toBe(200);
        const id = String(sent.body['id']);
        const line = await app.waitFor((l) => l['event'] === 'notifications' && (l['pushList'] as { id: string }[]).some((p) => p.id === id), 30_000, `push ${id}`);
        expect((line['pushList'] as Record<string, unknown>[]).find((p) => p['id'] === id)).toMatchObject(seen);
      }
      const empty = await send({});
      expect(empty.status).toBe(400);
      expect(JSON.stringify(empty.body)).toContain('needs at least one of title, message (not empty) or data');
    } finally {
      await app.stop();
    }
  });

  it('admin quickstart run twice with the same name reuses the tenant, makes a second project, and says so', async () => {
    const first = await runCli(['admin', 'quickstart', '--out', join(work, 'twice-1'), '--server', httpUrl, '--name', 'twice'], adminEnv);
    const second = await runCli(['admin', 'quickstart', '--out', join(work, 'twice-2'), '--server', httpUrl, '--name', 'twice'], adminEnv);
    expect(first).toMatchObject({ tenant: { name: 'twice', reused: false }, project_name: 'twice' });
    expect(second).toMatchObject({ tenant: { id: (first['tenant'] as { id: string }).id, reused: true }, project_name: 'twice-2' });
    expect(second['project_id']).not.toBe(first['project_id']);
    expect((await requestToken(loadSettings(String(second['settings'])))).status).toBe(200);
  });

  it('an application that requires a registration secret registers only devices that send it (borealis admin app require-secret; issue 15, finding 5)', async () => {
    const created = await runCli(['admin', 'quickstart', '--out', join(work, 'secret'), '--server', httpUrl, '--name', 'secret'], adminEnv);
    const s = loadSettings(String(created['settings']));
    const applicationId = String(created['application_id']);
    const admin = (...args: string[]) => runCli(['admin', ...args, '--server', httpUrl], adminEnv);
    const issued = await admin('app', 'require-secret', '--project', s.project_id, '--app', applicationId);
    expect(issued).toMatchObject({ id: applicationId, registrationSecretRequired: true, registrationSecret: expect.stringMatching(/^brs_/) });

    const without = startDevice(deviceUrl, applicationId, join(work, 'secret-without'));
    const withSecret = startDevice(deviceUrl, applicationId, join(work, 'secret-with'), ['--registration-secret', String(issued['registrationSecret'])]);
    try {
      // The registry event reaches push-core in process: the refusal is immediate.
      expect(await without.waitFor((l) => l['event'] === 'registrationError', 30_000, 'registrationError')).toMatchObject({ code: 'unauthenticated', message: expect.stringContaining('registration secret') });
      expect(await registrationIdOf(withSecret)).toMatch(/^reg_/);
    } finally {
      await without.stop();
      await withSecret.stop();
    }
    expect(await admin('app', 'drop-secret', '--project', s.project_id, '--app', applicationId)).toMatchObject({ registrationSecretRequired: false });
  });

  it('is refused a token once its project is deactivated or its key revoked (borealis admin)', async () => {
    const created = await runCli(['admin', 'quickstart', '--out', join(work, 'refused'), '--server', httpUrl, '--name', 'refused'], adminEnv);
    const s = loadSettings(String(created['settings']));
    const admin = (...args: string[]) => runCli(['admin', ...args, '--server', httpUrl], adminEnv);
    expect((await requestToken(s)).status).toBe(200);

    expect(await admin('project', 'deactivate', '--project', s.project_id)).toMatchObject({ id: s.project_id, isActive: false });
    expect(await requestToken(s)).toEqual({ status: 401, body: { error: 'invalid_client', error_description: expect.stringContaining('inactive') } });
    await admin('project', 'activate', '--project', s.project_id);
    expect((await requestToken(s)).status).toBe(200);

    expect(await admin('key', 'revoke', '--project', s.project_id, '--key', s.key_id)).toEqual({ key_id: s.key_id, revoked: true });
    expect(await requestToken(s)).toEqual({ status: 401, body: { error: 'invalid_client', error_description: 'client authentication failed' } });

    const fresh = await admin('key', 'create', '--project', s.project_id, '--out', join(work, 'refused-2'));
    expect(fresh).toMatchObject({ client_id: s.client_id, key_id: expect.any(String) });
    expect((await requestToken(loadSettings(String(fresh['settings'])))).status).toBe(200);
    const { keys } = await admin('key', 'list', '--project', s.project_id);
    expect(keys).toEqual(expect.arrayContaining([expect.objectContaining({ keyId: s.key_id, revokedAt: expect.any(String) })]));
  });
});
