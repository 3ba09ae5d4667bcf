import type { MigrationInterface, QueryRunner } from 'typeorm';

export class AuthInitial1764300000000 implements MigrationInterface {
  name = 'AuthInitial1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tenants (
        id text PRIMARY KEY,
        name text NOT NULL,
        created_at timestamptz NOT NULL,
        CONSTRAINT tenants_name_key UNIQUE (name)
      )`);
    await q.query(`
      CREATE TABLE projects (
        id text PRIMARY KEY,
        tenant_id text NOT NULL REFERENCES tenants (id),
        name text NOT NULL,
        is_active boolean NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        CONSTRAINT projects_tenant_name_key UNIQUE (tenant_id, name)
      )`);
    await q.query(`
      CREATE TABLE service_accounts (
        client_id text PRIMARY KEY,
        project_id text NOT NULL REFERENCES projects (id),
        scopes text[] NOT NULL,
        created_at timestamptz NOT NULL,
        CONSTRAINT service_accounts_project_key UNIQUE (project_id)
      )`);
    await q.query(`
      CREATE TABLE service_account_keys (
        kid text PRIMARY KEY,
        client_id text NOT NULL REFERENCES service_accounts (client_id),
        public_key_pem text NOT NULL,
        created_at timestamptz NOT NULL,
        expires_at timestamptz,
        revoked_at timestamptz
      )`);
    await q.query(`CREATE INDEX service_account_keys_client_idx ON service_account_keys (client_id)`);
    await q.query(`
      CREATE TABLE applications (
        id text PRIMARY KEY,
        project_id text NOT NULL REFERENCES projects (id),
        name text NOT NULL,
        is_active boolean NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        CONSTRAINT applications_project_name_key UNIQUE (project_id, name)
      )`);
    await q.query(`
      CREATE TABLE signing_keys (
        seq bigserial PRIMARY KEY,
        kid text NOT NULL UNIQUE,
        private_key_pem text NOT NULL,
        created_at timestamptz NOT NULL
      )`);
    await q.query(`
      CREATE TABLE registry_outbox (
        seq bigserial PRIMARY KEY,
        payload jsonb NOT NULL,
        created_at timestamptz NOT NULL,
        published_at timestamptz
      )`);
    // The relay reads only pending rows; keep that scan small however many are done.
    await q.query(`CREATE INDEX registry_outbox_pending_idx ON registry_outbox (seq) WHERE published_at IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['registry_outbox', 'signing_keys', 'applications', 'service_account_keys', 'service_accounts', 'projects', 'tenants']) {
      await q.query(`DROP TABLE ${table}`);
    }
  }
}
