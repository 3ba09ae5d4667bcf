import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { readStandaloneSecrets } from '@borealis/runtime';
import { printJson, required, UsageError } from './usage';

export async function adminCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'quickstart') throw new UsageError(`unknown admin command "${sub ?? ''}" (quickstart)`);
  const { values } = parseArgs({
    args: rest,
    options: { out: { type: 'string' }, server: { type: 'string' }, token: { type: 'string' }, name: { type: 'string' } },
    strict: true,
  });
  const out = resolve(required(values.out, '--out'));
  const server = (values.server ?? `http://127.0.0.1:${process.env['BOREALIS_HTTP_PORT'] ?? '8080'}`).replace(/\/+$/, '');
  const admin = new AdminApi(server, adminToken(values.token));
  const name = values.name ?? 'quickstart';

  const tenant = await admin.post<{ id: string }>('/tenants', { name });
  const project = await admin.post<{ id: string }>(`/tenants/${tenant.id}/projects`, { name });
  const account = await admin.post<{ settings: unknown }>(`/projects/${project.id}/service-accounts`, {});
  const application = await admin.post<{ id: string }>(`/projects/${project.id}/applications`, { name });

  await mkdir(out, { recursive: true });
  const file = join(out, 'push_notification_system.yaml');
  // The file holds the service account's private key: readable by its owner only.
  await writeFile(file, stringify(account.settings), { mode: 0o600 });
  printJson({ project_id: project.id, application_id: application.id, settings: file });
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

  async post<T>(path: string, body: unknown): Promise<T> {
    const url = `${this.server}/auth/admin/v1${path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
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
      throw new Error(`POST ${path} failed with ${response.status}: ${detail}`);
    }
    return JSON.parse(text) as T;
  }
}
