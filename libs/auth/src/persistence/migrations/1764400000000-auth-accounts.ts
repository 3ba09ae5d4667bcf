import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Developer accounts, console sessions, memberships with roles, invitations, the audit log, key lifecycle. */
export class AuthAccounts1764400000000 implements MigrationInterface {
  name = 'AuthAccounts1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE accounts (
        id text PRIMARY KEY,
        email text NOT NULL,
        password_hash text NOT NULL,
        created_at timestamptz NOT NULL,
        CONSTRAINT accounts_email_key UNIQUE (email)
      )`);
    await q.query(`
      CREATE TABLE console_sessions (
        token_hash text PRIMARY KEY,
        account_id text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX console_sessions_expiry_idx ON console_sessions (expires_at)`);
    await q.query(`
      CREATE TABLE memberships (
        tenant_id text NOT NULL REFERENCES tenants (id),
        account_id text NOT NULL REFERENCES accounts (id),
        role text NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
        created_at timestamptz NOT NULL,
        PRIMARY KEY (tenant_id, account_id)
      )`);
    await q.query(`CREATE INDEX memberships_account_idx ON memberships (account_id)`);
    await q.query(`
      CREATE TABLE invitations (
        id text PRIMARY KEY,
        tenant_id text NOT NULL REFERENCES tenants (id),
        email text NOT NULL,
        role text NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
        token_hash text NOT NULL UNIQUE,
        invited_by text NOT NULL,
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        accepted_at timestamptz,
        accepted_by text,
        revoked_at timestamptz
      )`);
    await q.query(`CREATE INDEX invitations_tenant_idx ON invitations (tenant_id)`);
    await q.query(`
      CREATE TABLE audit_log (
        seq bigserial PRIMARY KEY,
        tenant_id text,
        actor text NOT NULL,
        action text NOT NULL,
        entity_type text NOT NULL,
        entity_id text NOT NULL,
        details jsonb NOT NULL,
        at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, seq)`);
    await q.query(`ALTER TABLE service_account_keys ADD COLUMN updated_at timestamptz`);
    await q.query(`UPDATE service_account_keys SET updated_at = coalesce(revoked_at, created_at)`);
    await q.query(`ALTER TABLE service_account_keys ALTER COLUMN updated_at SET NOT NULL`);
    await q.query(`ALTER TABLE service_account_keys ADD COLUMN origin text NOT NULL DEFAULT 'generated' CHECK (origin IN ('generated', 'uploaded'))`);
    // Set once the expiry of the key has been announced on the registry topic.
    await q.query(`ALTER TABLE service_account_keys ADD COLUMN expiry_published boolean NOT NULL DEFAULT false`);
    await q.query(`CREATE INDEX service_account_keys_expiry_idx ON service_account_keys (expires_at) WHERE NOT expiry_published AND expires_at IS NOT NULL`);
    // Keys from before this version get their first key event, so that consumers know every key.
    await q.query(`
      INSERT INTO registry_outbox (payload, created_at, published_at)
      SELECT jsonb_build_object('kind', 'service-account-key', 'key', jsonb_build_object(
               'id', k.kid, 'clientId', k.client_id, 'projectId', sa.project_id,
               'revokedAtMs', (extract(epoch FROM k.revoked_at) * 1000)::bigint,
               'expiresAtMs', (extract(epoch FROM k.expires_at) * 1000)::bigint,
               'createdAtMs', (extract(epoch FROM k.created_at) * 1000)::bigint,
               'updatedAtMs', (extract(epoch FROM k.updated_at) * 1000)::bigint)),
             now(), NULL
        FROM service_account_keys k JOIN service_accounts sa ON sa.client_id = k.client_id
       ORDER BY k.created_at`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const column of ['expiry_published', 'origin', 'updated_at']) await q.query(`ALTER TABLE service_account_keys DROP COLUMN ${column}`);
    for (const table of ['audit_log', 'invitations', 'memberships', 'console_sessions', 'accounts']) await q.query(`DROP TABLE ${table}`);
  }
}
