import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Registrations not yet confirmed (docs/security.md, finding 5): a registration is unconfirmed from
 * its Register until its device connects again (a `connected` event later than the Register), and
 * an unconfirmed one is unregistered after a short time instead of the stale period. The column
 * holds the transport's time of the Register (the same clock as the device's `connected` events);
 * NULL is confirmed, which every registration made before this migration is.
 */
export class UnconfirmedRegistrations1767916800000 implements MigrationInterface {
  name = 'UnconfirmedRegistrations1767916800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE registrations ADD COLUMN unconfirmed_since_ms bigint`);
    await q.query(`
      CREATE INDEX registrations_unconfirmed_by_created ON registrations (created_at_ms)
        WHERE unregistered_at_ms IS NULL AND unconfirmed_since_ms IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX registrations_unconfirmed_by_created`);
    await q.query(`ALTER TABLE registrations DROP COLUMN unconfirmed_since_ms`);
  }
}
