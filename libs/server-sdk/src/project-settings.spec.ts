import { generateKeyPairSync } from 'node:crypto';
import { stringify } from 'yaml';
import { parseProjectSettings, ProjectSettingsError } from './project-settings';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;

const fields = () => ({
  project_id: 'proj-1',
  push_public_address: 'https://push.example/',
  api_url: 'https://push.example/push/public/api/v1/',
  client_id: 'client-1',
  scopes: 'openid offline message:update project:read',
  audience: 'push.example',
  token_url: 'https://push.example/auth/public/oauth2/token',
  private_key: pem,
  key_id: 'public:key-1',
});

const yaml = (root: Record<string, unknown>) => stringify({ push_notification_system: root });

function failure(text: string): string {
  try {
    parseProjectSettings(text, 'settings.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ProjectSettingsError);
    return (err as Error).message;
  }
  throw new Error('expected the settings to be refused');
}

describe('parseProjectSettings', () => {
  it('reads an Aurora settings file', () => {
    expect(parseProjectSettings(yaml(fields()))).toEqual({
      projectId: 'proj-1',
      pushPublicAddress: 'https://push.example/',
      apiUrl: 'https://push.example/push/public/api/v1/',
      clientId: 'client-1',
      scopes: 'openid offline message:update project:read',
      audience: 'push.example',
      tokenUrl: 'https://push.example/auth/public/oauth2/token',
      privateKey: pem,
      keyId: 'public:key-1',
    });
  });

  it('accepts scopes as a YAML list and a PKCS#8 key', () => {
    const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const settings = parseProjectSettings(yaml({ ...fields(), scopes: ['openid', 'message:update'], private_key: pkcs8 }));
    expect(settings.scopes).toBe('openid message:update');
  });

  it('names a missing field', () => {
    const partial: Record<string, unknown> = fields();
    delete partial['client_id'];
    expect(failure(yaml(partial))).toBe('settings.yaml: push_notification_system.client_id is missing');
  });

  it('names every bad field at once', () => {
    const message = failure(yaml({ ...fields(), key_id: '', api_url: 'ftp://x', token_url: 'not a url', private_key: 'nope', scopes: 7 }));
    expect(message).toContain('push_notification_system.key_id is missing');
    expect(message).toContain('push_notification_system.api_url must be an http(s) URL');
    expect(message).toContain('push_notification_system.token_url must be an http(s) URL');
    expect(message).toContain('push_notification_system.private_key must be a PEM RSA private key');
    expect(message).toContain('push_notification_system.scopes must be a space-separated string of scopes');
  });

  it('refuses a non-RSA key', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(failure(yaml({ ...fields(), private_key: ec }))).toContain('private_key must be an RSA key');
  });

  it('refuses a file without the root key or that is not YAML', () => {
    expect(failure(stringify(fields()))).toBe('settings.yaml: the root key push_notification_system is missing');
    expect(failure('push_notification_system: [unclosed')).toMatch(/^settings.yaml is not valid YAML/);
  });

  it('refuses a non-string field', () => {
    expect(failure(yaml({ ...fields(), project_id: 42 }))).toBe('settings.yaml: push_notification_system.project_id must be a string');
  });
});
