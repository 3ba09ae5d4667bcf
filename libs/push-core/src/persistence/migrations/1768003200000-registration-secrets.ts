import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The SHA-256 of an application's registration secret, from auth's registry events (docs/security.md, finding 5); null: none required. */
export class RegistrationSecrets1768003200000 implements MigrationInterface {
  name = 'RegistrationSecrets1768003200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE registry_applications ADD COLUMN registration_secret_hash text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE registry_applications DROP COLUMN registration_secret_hash`);
  }
}
