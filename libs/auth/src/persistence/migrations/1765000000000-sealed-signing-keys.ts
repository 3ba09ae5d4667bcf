import type { MigrationInterface, QueryRunner } from 'typeorm';
import type { SigningKeyCipher } from '../../signing/signing-key-cipher';

/**
 * Signing keys encrypted at rest (issue 15, finding 1): every stored key is sealed with the
 * installation's signing-key encryption key. The rows move to a new table and the old one is
 * dropped, so the clear keys do not linger in the table's files as dead row versions or as a
 * dropped column's values. A migration class per cipher, because TypeORM instantiates migrations
 * itself and this one needs the key.
 */
export function sealedSigningKeysMigration(cipher: SigningKeyCipher): new () => MigrationInterface {
  return class AuthSealedSigningKeys1765000000000 implements MigrationInterface {
    name = 'AuthSealedSigningKeys1765000000000';

    async up(q: QueryRunner): Promise<void> {
      const rows = (await q.query('SELECT seq, kid, private_key_pem, created_at FROM signing_keys ORDER BY seq')) as ClearRow[];
      await q.query(`
        CREATE TABLE signing_keys_sealed (
          seq bigserial PRIMARY KEY,
          kid text NOT NULL UNIQUE,
          sealed_private_key text NOT NULL,
          created_at timestamptz NOT NULL
        )`);
      for (const row of rows) {
        await q.query('INSERT INTO signing_keys_sealed (seq, kid, sealed_private_key, created_at) VALUES ($1, $2, $3, $4)', [
          row.seq,
          row.kid,
          cipher.seal(row.kid, row.private_key_pem),
          row.created_at,
        ]);
      }
      await q.query('DROP TABLE signing_keys');
      await renameTable(q, 'signing_keys_sealed', 'signing_keys');
    }

    async down(q: QueryRunner): Promise<void> {
      const rows = (await q.query('SELECT seq, kid, sealed_private_key, created_at FROM signing_keys ORDER BY seq')) as SealedRow[];
      await q.query(`
        CREATE TABLE signing_keys_clear (
          seq bigserial PRIMARY KEY,
          kid text NOT NULL UNIQUE,
          private_key_pem text NOT NULL,
          created_at timestamptz NOT NULL
        )`);
      for (const row of rows) {
        await q.query('INSERT INTO signing_keys_clear (seq, kid, private_key_pem, created_at) VALUES ($1, $2, $3, $4)', [
          row.seq,
          row.kid,
          cipher.open(row.kid, row.sealed_private_key),
          row.created_at,
        ]);
      }
      await q.query('DROP TABLE signing_keys');
      await renameTable(q, 'signing_keys_clear', 'signing_keys');
    }
  };
}

interface ClearRow {
  seq: string;
  kid: string;
  private_key_pem: string;
  created_at: Date;
}

interface SealedRow {
  seq: string;
  kid: string;
  sealed_private_key: string;
  created_at: Date;
}

/** The table with the names the first migration gave it, its sequence continuing after the copied rows. */
async function renameTable(q: QueryRunner, from: string, to: string): Promise<void> {
  await q.query(`ALTER TABLE ${from} RENAME TO ${to}`);
  await q.query(`ALTER SEQUENCE ${from}_seq_seq RENAME TO ${to}_seq_seq`);
  await q.query(`ALTER INDEX ${from}_pkey RENAME TO ${to}_pkey`);
  await q.query(`ALTER INDEX ${from}_kid_key RENAME TO ${to}_kid_key`);
  await q.query(`SELECT setval('${to}_seq_seq', COALESCE((SELECT MAX(seq) FROM ${to}), 0) + 1, false)`);
}
