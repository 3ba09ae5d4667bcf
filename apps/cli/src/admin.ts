import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { readStandaloneSecrets } from '@borealis/runtime';
import { joinDashValues, printJson, required, UsageError } from './usage';

export const ADMIN_USAGE = `usage: borealis admin <command> [--server URL] [--token TOKEN] [options]

  quickstart --out DIR [--name NAME]          tenant (reused if NAME exists), a new project, key and application;
                                              writes DIR/push_notification_system.yaml
  tenant create --name NAME | tenant list
  project create --tenant ID --name NAME | project get --project ID
  project activate --project ID | project deactivate --project ID
  key create --project ID --out DIR [--expires-at RFC3339]   writes DIR/push_notification_system.yaml (private key, once)
  key upload --project ID --public-key FILE [--expires-at RFC3339]
  key list --project ID | key revoke --project ID --key KID | key expire --project ID --key KID [--expires-at RFC3339]
  app create --project ID --name NAME | app list --project ID
  app activate --project ID --app ID | app deactivate --project ID --app ID
  app require-secret --project ID --app ID     issues the app's registration secret (printed once; devices must send it)
  app drop-secret --project ID --app ID        devices need no registration secret any more
  member list --tenant ID | invite --tenant ID --email ADDRESS --role owner|admin|developer|viewer
  audit --tenant ID [--limit N]
  rotate-signing-key

Every command prints one JSON object on one line (lists under a key: {"keys": [...]}). The token is the operator admin token (--token, BOREALIS_ADMIN_TOKEN, or a
standalone server's data directory) or a console session token.
`;

const OPTIONS = {
  out: { type: 'string' },
  server: { type: 'string' },
  token: { type: 'string' },
  name: { type: 'string' },
  tenant: { type: 'string' },
  project: { type: 'string' },
  key: { type: 'string' },
  app: { type: 'string' },
  email: { type: 'string' },
  role: { type: 'string' },
  limit: { type: 'string' },
  'expires-at': { type: 'string' },
  'public-key': { type: 'string' },
} as const;

type Flags = { [K in keyof typeof OPTIONS]?: string };

export async function adminCommand(args: string[]): Promise<void> {
  // The command words come first: `admin key revoke --project P --key K`.
  const [group, action] = args;
  if (group === undefined || group === 'help' || args.includes('--help') || args.includes('-h')) {
    process.stdout.write(ADMIN_USAGE);
    return;
  }
  const twoWords = ['tenant', 'project', 'key', 'app', 'member'].includes(group);
  const { values } = parseArgs({ args: joinDashValues(args.slice(twoWords ? 2 : 1), OPTIONS), options: OPTIONS, strict: true });
  const flags = values as Flags;
  const server = (flags.server ?? `http://127.0.0.1:${process.env['BOREALIS_HTTP_PORT'] ?? '8080'}`).replace(/\/+$/, '');
  const admin = new AdminApi(server, adminToken(flags.token));
  const command = twoWords ? `${group} ${action ?? ''}` : group;
  const handler = COMMANDS[command];
  if (!handler) throw new UsageError(`unknown admin command "${command.trim()}"\n\n${ADMIN_USAGE}`);
  printJson(await handler(admin, flags));
}

const project = (f: Flags) => encodeURIComponent(required(f.project, '--project'));
const tenant = (f: Flags) => encodeURIComponent(required(f.tenant, '--tenant'));

const COMMANDS: Record<string, (admin: AdminApi, f: Flags) => Promise<unknown>> = {
  quickstart: async (admin, f) => {
    const out = resolve(required(f.out, '--out'));
    const name = f.name ?? 'quickstart';
    // Run again in the same installation, it reuses the tenant of that name and makes a new
    // project beside the earlier ones (name, name-2, name-3, ...), and says which it did.
    const tenants = await admin.call<{ id: string; name: string }[]>('GET', '/tenants');
    const existing = tenants.find((t) => t.name === name);
    const tenant = existing ?? (await admin.call<{ id: string; name: string }>('POST', '/tenants', { name }));
    const taken = new Set(existing ? (await admin.call<{ name: string }[]>('GET', `/tenants/${encodeURIComponent(tenant.id)}/projects`)).map((p) => p.name) : []);
    let projectName = name;
    for (let n = 2; taken.has(projectName); n++) projectName = `${name}-${n}`;
    const proj = await admin.call<{ id: string }>('POST', `/tenants/${encodeURIComponent(tenant.id)}/projects`, { name: projectName });
    const account = await admin.call<{ settings: unknown }>('POST', `/projects/${proj.id}/service-accounts`, {});
    const application = await admin.call<{ id: string }>('POST', `/projects/${proj.id}/applications`, { name });
    const file = await writeSettings(out, account.settings);
    return {
      project_id: proj.id,
      application_id: application.id,
      settings: file,
      tenant: { id: tenant.id, name: tenant.name, reused: existing !== undefined },
      project_name: projectName,
    };
  },
  'tenant create': (admin, f) => admin.call('POST', '/tenants', { name: required(f.name, '--name') }),
  'tenant list': async (admin) => ({ tenants: await admin.call('GET', '/tenants') }),
  'project create': (admin, f) => admin.call('POST', `/tenants/${tenant(f)}/projects`, { name: required(f.name, '--name') }),
  'project get': (admin, f) => admin.call('GET', `/projects/${project(f)}`),
  'project activate': (admin, f) => admin.call('PATCH', `/projects/${project(f)}`, { isActive: true }),
  'project deactivate': (admin, f) => admin.call('PATCH', `/projects/${project(f)}`, { isActive: false }),
  'key create': async (admin, f) => {
    const out = resolve(required(f.out, '--out'));
    const issued = await admin.call<{ clientId: string; keyId: string; expiresAt: string | null; settings: unknown }>('POST', `/projects/${project(f)}/service-accounts`, expiry(f));
    return { client_id: issued.clientId, key_id: issued.keyId, expires_at: issued.expiresAt, settings: await writeSettings(out, issued.settings) };
  },
  'key upload': async (admin, f) =>
    admin.call('POST', `/projects/${project(f)}/service-accounts/keys`, { publicKeyPem: await readFile(required(f['public-key'], '--public-key'), 'utf8'), ...expiry(f) }),
  'key list': async (admin, f) => ({ keys: await admin.call('GET', `/projects/${project(f)}/service-accounts/keys`) }),
  'key revoke': async (admin, f) => {
    const kid = required(f.key, '--key');
    await admin.call('DELETE', `/projects/${project(f)}/service-accounts/keys/${encodeURIComponent(kid)}`);
    return { key_id: kid, revoked: true };
  },
  'key expire': (admin, f) =>
    admin.call('PATCH', `/projects/${project(f)}/service-accounts/keys/${encodeURIComponent(required(f.key, '--key'))}`, { expiresAt: f['expires-at'] ?? new Date().toISOString() }),
  'app create': (admin, f) => admin.call('POST', `/projects/${project(f)}/applications`, { name: required(f.name, '--name') }),
  'app list': async (admin, f) => ({ applications: await admin.call('GET', `/projects/${project(f)}/applications`) }),
  'app activate': (admin, f) => admin.call('PATCH', `/projects/${project(f)}/applications/${encodeURIComponent(required(f.app, '--app'))}`, { isActive: true }),
  'app deactivate': (admin, f) => admin.call('PATCH', `/projects/${project(f)}/applications/${encodeURIComponent(required(f.app, '--app'))}`, { isActive: false }),
  'app require-secret': (admin, f) => admin.call('POST', `/projects/${project(f)}/applications/${encodeURIComponent(required(f.app, '--app'))}/registration-secret`, {}),
  'app drop-secret': (admin, f) => admin.call('DELETE', `/projects/${project(f)}/applications/${encodeURIComponent(required(f.app, '--app'))}/registration-secret`),
  'member list': async (admin, f) => ({ members: await admin.call('GET', `/tenants/${tenant(f)}/members`) }),
  invite: (admin, f) => admin.call('POST', `/tenants/${tenant(f)}/invitations`, { email: required(f.email, '--email'), role: required(f.role, '--role') }),
  audit: (admin, f) => admin.call('GET', `/tenants/${tenant(f)}/audit-log${f.limit ? `?limit=${encodeURIComponent(f.limit)}` : ''}`),
  'rotate-signing-key': (admin) => admin.call('POST', '/signing-keys', {}),
};

function expiry(f: Flags): { expiresAt?: string } {
  return f['expires-at'] ? { expiresAt: f['expires-at'] } : {};
}

/** The settings file holds the service account's private key: readable by its owner only. */
async function writeSettings(out: string, settings: unknown): Promise<string> {
  await mkdir(out, { recursive: true });
  const file = join(out, 'push_notification_system.yaml');
  await writeFile(file, stringify(settings), { mode: 0o600 });
  return file;
}

/**
 * The admin token: --token, else BOREALIS_ADMIN_TOKEN, else (standalone) the one the server
 * generated in its data directory.
 */
function adminToken(flag: string | undefined): string {
  const token = flag ?? process.env['BOREALIS_ADMIN_TOKEN'] ?? readStandaloneSecrets(resolve(process.env['BOREALIS_DATA_DIR'] ?? '.data'))?.adminToken;
  if (!token) {
    throw new UsageError('no admin token: pass --token, set BOREALIS_ADMIN_TOKEN, or run from the directory of a standalone server (its BOREALIS_DATA_DIR holds one)');
  }
  return token;
}

class AdminApi {
  constructor(
    private readonly server: string,
    private readonly token: string,
  ) {}

  async call<T = unknown>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const url = `${this.server}/auth/admin/v1${path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${this.token}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new Error(`cannot reach ${this.server}: ${(err as Error).cause ?? (err as Error).message}; is the server running?`);
    }
    const text = await response.text();
    if (!response.ok) {
      let detail = text;
      try {
        const problem = JSON.parse(text) as { detail?: string; code?: string };
        detail = `${problem.code ?? ''} ${problem.detail ?? ''}`.trim();
      } catch {
        // not JSON: keep the text
      }
      throw new Error(`${method} ${path} failed with ${response.status}: ${detail}`);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }
}
