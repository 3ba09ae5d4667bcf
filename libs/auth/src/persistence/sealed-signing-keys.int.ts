import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@borealis/testing';
import { FixedClock } from '@borealis/util';
import { SigningKeyCipher, SigningKeyDecryptionError } from '../signing/signing-key-cipher';
import { generateRsaPem, SigningKeys } from '../signing/signing-keys';
import { AUTH_ENTITIES } from './entities';
import { AuthInitial1764300000000 } from './migrations/1764300000000-auth-initial';
import { AuthAccounts1764400000000 } from './migrations/1764400000000-auth-accounts';
import { sealedSigningKeysMigration } from './migrations/1765000000000-sealed-signing-keys';
import { TypeOrmSigningKeyStore } from './typeorm-signing-key-store';

/** An installation from before issue 15 (clear PEM in signing_keys) upgraded by the sealing migration. */
describe('signing keys sealed at rest, against PostgreSQL', () => {
  let db: TestDatabase;
  const key = randomBytes(32);
  const open: DataSource[] = [];

  async function dataSource(migrations: (new () => object)[]): Promise<DataSource> {
    const ds = new DataSource({ type: 'postgres', url: db.url, entities: AUTH_ENTITIES, migrations, migrationsRun: true, synchronize: false });
    await ds.initialize();
    open.push(ds);
    return ds;
  }

  beforeAll(async () => {
    db = await createTestDatabase('auth_sealed_keys');
  });

  afterAll(async () => {
    await Promise.all(open.filter((ds) => ds.isInitialized).map((ds) => ds.destroy()));
    await db?.drop();
  });

  it('seals the clear keys of an older installation, keeps them usable, and refuses a wrong key without making a new one', async () => {
    const old = await dataSource([AuthInitial1764300000000, AuthAccounts1764400000000]);
    const first = await generateRsaPem();
    const second = await generateRsaPem();
    await old.query(`INSERT INTO signing_keys (kid, private_key_pem, created_at) VALUES ('k1', $1, now()), ('k2', $2, now())`, [first.privateKeyPem, second.privateKeyPem]);
    await old.destroy();

    const cipher = new SigningKeyCipher(key);
    const upgraded = await dataSource([AuthInitial1764300000000, AuthAccounts1764400000000, sealedSigningKeysMigration(cipher)]);
    const rows = (await upgraded.query('SELECT * FROM signing_keys ORDER BY seq')) as Record<string, unknown>[];
    expect(rows.map((r) => Object.keys(r).sort())).toEqual([
      ['created_at', 'kid', 'sealed_private_key', 'seq'],
      ['created_at', 'kid', 'sealed_private_key', 'seq'],
    ]);
    expect(JSON.stringify(rows)).not.toContain('PRIVATE KEY');

    const store = new TypeOrmSigningKeyStore(upgraded, cipher);
    const keys = new SigningKeys(store, new FixedClock(Date.UTC(2025, 0, 1)));
    await keys.onModuleInit();
    expect((await store.newest(2)).map((k) => [k.kid, k.privateKeyPem])).toEqual([
      ['k2', second.privateKeyPem],
      ['k1', first.privateKeyPem],
    ]);
    // A key made after the upgrade continues the sequence: it becomes the current one.
    const rotated = await keys.rotateSigningKey();
    expect((await keys.current()).kid).toBe(rotated);

    // With the wrong encryption key the start fails, saying so, and no key is made in its place.
    const wrong = new SigningKeys(new TypeOrmSigningKeyStore(upgraded, new SigningKeyCipher(randomBytes(32))), new FixedClock(0));
    await expect(wrong.onModuleInit()).rejects.toThrow(SigningKeyDecryptionError);
    expect(await upgraded.query('SELECT count(*)::int AS n FROM signing_keys')).toEqual([{ n: 3 }]);
  });
});
