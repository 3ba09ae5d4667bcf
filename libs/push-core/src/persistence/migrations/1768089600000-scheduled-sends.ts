import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Scheduled sends (`send_at`): a message keeps the time it may go out; a device-targeted or
 * multicast message's deliveries carry it (`not_before_ms`, cleared once released to the
 * transports); a group message's fan-out job waits for it. Nullable columns: no table rewrite.
 */
export class ScheduledSends1768089600000 implements MigrationInterface {
  name = 'ScheduledSends1768089600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE messages ADD COLUMN send_at_ms bigint`);
    await q.query(`ALTER TABLE deliveries ADD COLUMN not_before_ms bigint`);
    await q.query(`ALTER TABLE fanout_jobs ADD COLUMN not_before_ms bigint`);
    // The scheduler's work list: held deliveries only (released ones have it null).
    await q.query(`CREATE INDEX deliveries_scheduled ON deliveries (not_before_ms) WHERE not_before_ms IS NOT NULL AND state = 'pending'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX deliveries_scheduled`);
    await q.query(`ALTER TABLE fanout_jobs DROP COLUMN not_before_ms`);
    await q.query(`ALTER TABLE deliveries DROP COLUMN not_before_ms`);
    await q.query(`ALTER TABLE messages DROP COLUMN send_at_ms`);
  }
}
