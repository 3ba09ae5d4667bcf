import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureStandaloneSecrets, SECRETS_FILE } from './secrets';

describe('standalone secrets', () => {
  const work = mkdtempSync(join(tmpdir(), 'borealis-secrets-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('generates every secret once, 0600, in a directory other users cannot list, and never replaces one', async () => {
    const dataDir = join(work, 'fresh');
    const first = await ensureStandaloneSecrets(dataDir);
    expect(Buffer.from(first.signingKeyEncryptionKey, 'base64')).toHaveLength(32);
    expect(first.postgresPassword).not.toBe(first.databasePassword);
    expect(statSync(join(dataDir, SECRETS_FILE)).mode & 0o777).toBe(0o600);
    expect(statSync(dataDir).mode & 0o007 & ~0o001).toBe(0);
    expect(await ensureStandaloneSecrets(dataDir)).toEqual(first);
  });

  it("completes an older installation's file, keeping its admin token and device key", async () => {
    const dataDir = join(work, 'older');
    await ensureStandaloneSecrets(dataDir);
    const file = join(dataDir, SECRETS_FILE);
    writeFileSync(file, JSON.stringify({ adminToken: 'adm_old', deviceCredentialSecret: 'device-old' }));
    const upgraded = await ensureStandaloneSecrets(dataDir);
    expect(upgraded).toMatchObject({ adminToken: 'adm_old', deviceCredentialSecret: 'device-old' });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(upgraded);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(upgraded.postgresPassword.length).toBeGreaterThanOrEqual(32);
  });

  it('refuses a damaged file instead of generating new secrets over it', async () => {
    const dataDir = join(work, 'damaged');
    await ensureStandaloneSecrets(dataDir);
    const file = join(dataDir, SECRETS_FILE);
    writeFileSync(file, JSON.stringify({ adminToken: 'a', deviceCredentialSecret: 'd', signingKeyEncryptionKey: 42 }));
    await expect(ensureStandaloneSecrets(dataDir)).rejects.toThrow(/damaged: signingKeyEncryptionKey/);
  });
});
