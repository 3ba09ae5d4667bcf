import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomToken } from '@borealis/util';

/** Secrets a standalone installation generates on first start and keeps in its data directory. */
export interface StandaloneSecrets {
  /** Bearer token of the admin API; `borealis admin` reads it from here. */
  adminToken: string;
  /** HMAC key of device credentials. */
  deviceCredentialSecret: string;
  /** Password of the embedded PostgreSQL's superuser `postgres`. */
  postgresPassword: string;
  /** Password of the role the services connect to the embedded PostgreSQL as. */
  databasePassword: string;
  /** AES-256 key (base64, 32 bytes) that encrypts auth's access-token signing keys at rest. */
  signingKeyEncryptionKey: string;
}

export const SECRETS_FILE = 'secrets.json';

/** Fields an installation from before issue 15 lacks; its next start adds them. */
const GENERATED_LATER = ['postgresPassword', 'databasePassword', 'signingKeyEncryptionKey'] as const;

type StoredSecrets = Pick<StandaloneSecrets, 'adminToken' | 'deviceCredentialSecret'> & Partial<StandaloneSecrets>;

/** What secrets.json holds, or null when there is none yet (the CLI needs only the admin token). */
export function readStandaloneSecrets(dataDir: string): StoredSecrets | null {
  const file = join(dataDir, SECRETS_FILE);
  if (!existsSync(file)) return null;
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<Record<keyof StandaloneSecrets, unknown>>;
  if (typeof parsed.adminToken !== 'string' || typeof parsed.deviceCredentialSecret !== 'string') {
    throw new Error(`${file} is damaged: it must hold adminToken and deviceCredentialSecret`);
  }
  const secrets: StoredSecrets = { adminToken: parsed.adminToken, deviceCredentialSecret: parsed.deviceCredentialSecret };
  for (const name of GENERATED_LATER) {
    const value = parsed[name];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value === '') throw new Error(`${file} is damaged: ${name} must be a non-empty string`);
    secrets[name] = value;
  }
  return secrets;
}

/**
 * The installation's secrets: generated on first start, completed on the first start of a version
 * that needs more (never replaced: a new database password or signing-key encryption key would
 * lock the installation out of its own data). The file is written whole, mode 0600, in a data
 * directory only the owner may list.
 */
export async function ensureStandaloneSecrets(dataDir: string): Promise<StandaloneSecrets> {
  const existing = readStandaloneSecrets(dataDir);
  const generated = {
    postgresPassword: () => randomToken(32),
    databasePassword: () => randomToken(32),
    signingKeyEncryptionKey: () => randomBytes(32).toString('base64'),
  };
  const secrets: StandaloneSecrets = {
    adminToken: existing?.adminToken ?? randomToken(32, 'adm_'),
    deviceCredentialSecret: existing?.deviceCredentialSecret ?? randomToken(32),
    postgresPassword: existing?.postgresPassword ?? generated.postgresPassword(),
    databasePassword: existing?.databasePassword ?? generated.databasePassword(),
    signingKeyEncryptionKey: existing?.signingKeyEncryptionKey ?? generated.signingKeyEncryptionKey(),
  };
  if (existing && GENERATED_LATER.every((name) => existing[name] !== undefined)) return secrets;
  // As root the embedded PostgreSQL's own user must pass through the directory (not list it).
  await mkdir(dataDir, { recursive: true, mode: process.getuid?.() === 0 ? 0o711 : 0o700 });
  const file = join(dataDir, SECRETS_FILE);
  // A leftover from a crash may have any mode; writeFile's mode applies only to a new file.
  await rm(`${file}.tmp`, { force: true });
  await writeFile(`${file}.tmp`, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  await rename(`${file}.tmp`, file);
  return secrets;
}
