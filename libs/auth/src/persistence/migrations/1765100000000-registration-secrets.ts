import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An application may require a registration secret of the devices that register with it
 * (docs/security.md, finding 5). Only its SHA-256 is kept: the secret is shown once, when issued.
 */
export class RegistrationSecrets1765100000000 implements MigrationInterface {
  name = 'RegistrationSecrets1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE applications ADD COLUMN registration_secret_hash text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE applications DROP COLUMN registration_secret_hash`);
  }
}
