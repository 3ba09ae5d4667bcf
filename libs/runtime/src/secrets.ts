import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomToken } from '@borealis/util';

/** Secrets a standalone installation generates on first start and keeps in its data directory. */
export interface StandaloneSecrets {
  /** Bearer token of the admin API; `borealis admin` reads it from here. */
  adminToken: string;
  /** HMAC key of device credentials. */
  deviceCredentialSecret: string;
}

export const SECRETS_FILE = 'secrets.json';

export function readStandaloneSecrets(dataDir: string): StandaloneSecrets | null {
  const file = join(dataDir, SECRETS_FILE);
  if (!existsSync(file)) return null;
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<StandaloneSecrets>;
  if (typeof parsed.adminToken !== 'string' || typeof parsed.deviceCredentialSecret !== 'string') {
    throw new Error(`${file} is damaged: it must hold adminToken and deviceCredentialSecret`);
  }
  return { adminToken: parsed.adminToken, deviceCredentialSecret: parsed.deviceCredentialSecret };
}

export async function ensureStandaloneSecrets(dataDir: string): Promise<StandaloneSecrets> {
  const existing = readStandaloneSecrets(dataDir);
  if (existing) return existing;
  await mkdir(dataDir, { recursive: true });
  const secrets: StandaloneSecrets = { adminToken: randomToken(32, 'adm_'), deviceCredentialSecret: randomToken(32) };
  const file = join(dataDir, SECRETS_FILE);
  await writeFile(`${file}.tmp`, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 });
  await rename(`${file}.tmp`, file);
  return secrets;
}
