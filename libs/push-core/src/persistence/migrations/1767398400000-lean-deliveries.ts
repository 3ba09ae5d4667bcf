import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Group fan-out writes deliveries by the hundred thousand, and every index and constraint on
 * `deliveries` is paid per row (see docs/benchmarks.md, "Fan-out"). Two of them bought nothing:
 * - the foreign key to `messages`: every delivery is created after its message, in code that just
 *   read or wrote that message, and retention deletes a message only once it has no deliveries
 *   left (`deleteWithoutDeliveries`), so the per-row key check and lock on the message row (about
 *   15 % of a chunk's insert time) guarded nothing;
 * - `deliveries_open_by_registration`: failing a registration's open deliveries now finds them
 *   through the registration's device (`deliveries_by_device_state`), and a device holds few.
 */
export class LeanDeliveries1767398400000 implements MigrationInterface {
  name = 'LeanDeliveries1767398400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE deliveries DROP CONSTRAINT deliveries_message_id_fkey`);
    await q.query(`DROP INDEX deliveries_open_by_registration`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX deliveries_open_by_registration ON deliveries (registration_id) WHERE state IN ('pending', 'sent')`);
    await q.query(`ALTER TABLE deliveries ADD CONSTRAINT deliveries_message_id_fkey FOREIGN KEY (message_id) REFERENCES messages (id) ON DELETE CASCADE`);
  }
}
