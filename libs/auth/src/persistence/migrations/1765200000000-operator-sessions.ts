import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The operator's console sessions (docs/auth.md, "Console sessions"): token hashes only. */
export class OperatorSessions1765200000000 implements MigrationInterface {
  name = 'OperatorSessions1765200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE operator_sessions (
        token_hash text PRIMARY KEY,
        admin_token_fingerprint text NOT NULL,
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX operator_sessions_expiry_idx ON operator_sessions (expires_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE operator_sessions`);
  }
}
