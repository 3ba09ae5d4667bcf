import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importPKCS8 } from 'jose';
import * as client from 'openid-client';
import { parse } from 'yaml';
import { runCli, type JsonLineProcess } from '@borealis/testing';
import { registrationIdOf, startDevice, startStandalone } from './support';

jest.setTimeout(120_000);

interface Settings {
  project_id: string;
  api_url: string;
  client_id: string;
  scopes: string;
  token_url: string;
  private_key: string;
  key_id: string;
}

/**
 * A mainstream OAuth 2.0 client library, used as its documentation shows: openid-client (npm)
 * discovers the issuer, authenticates with private_key_jwt (RFC 7523: its assertion carries no
 * `kid` unless given one) and runs the client-credentials grant with a form-encoded request; the
 * access token it gets then sends a push. Nothing of Borealis's own SDKs is involved.
 */
describe('a standard OAuth 2.0 client library (openid-client) against a standalone Borealis', () => {
  const work = mkdtempSync(join(tmpdir(), 'borealis-oauth-client-'));
  chmodSync(work, 0o755);
  const dataDir = join(work, 'data');
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

  it('discovers the issuer, gets a token with private_key_jwt without kid, and sends a push that reaches the device', async () => {
    const created = await runCli(['admin', 'quickstart', '--out', join(work, 'app'), '--server', httpUrl, '--name', 'oauth'], { BOREALIS_DATA_DIR: dataDir });
    const s = (parse(readFileSync(String(created['settings']), 'utf8')) as { push_notification_system: Settings }).push_notification_system;
    const key = await importPKCS8(s.private_key, 'RS256');

    // Plain HTTP on loopback needs the library's explicit opt-in; an installation serves HTTPS.
    const config = await client.discovery(new URL(`${httpUrl}/auth/public`), s.client_id, undefined, client.PrivateKeyJwt(key), { execute: [client.allowInsecureRequests] });
    expect(config.serverMetadata().token_endpoint).toBe(s.token_url);
    const tokens = await client.clientCredentialsGrant(config, { scope: s.scopes });
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.expiresIn()).toBeGreaterThan(3000);
    // Form-encoded requests get expires_at in epoch seconds, the form these libraries read.
    expect(typeof tokens['expires_at']).toBe('number');

    // With the key named in the assertion's header, the same.
    const named = await client.discovery(new URL(`${httpUrl}/auth/public`), s.client_id, undefined, client.PrivateKeyJwt({ key, kid: s.key_id }), { execute: [client.allowInsecureRequests] });
    expect((await client.clientCredentialsGrant(named, { scope: s.scopes })).access_token).toEqual(expect.any(String));

    device = startDevice(deviceUrl, String(created['application_id']), join(work, 'device'));
    const registrationId = await registrationIdOf(device);
    const sent = await client.fetchProtectedResource(
      config,
      tokens.access_token,
      new URL(`${s.api_url}projects/${s.project_id}/messages`),
      'POST',
      JSON.stringify({ target: registrationId, type: 'device', ttl: '1h', notification: { title: 'OAuth', message: 'via openid-client' } }),
      new Headers({ 'content-type': 'application/json' }),
    );
    expect(sent.status).toBe(200);
    const { id } = (await sent.json()) as { id: string };
    await device.waitFor((l) => l['event'] === 'notifications' && (l['pushList'] as { id: string }[]).some((p) => p.id === id), 30_000, `push ${id}`);
  });
});
