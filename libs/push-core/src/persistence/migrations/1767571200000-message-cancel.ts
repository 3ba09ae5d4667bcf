import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 16, point 3: an app server cancels a message. The message keeps when it was cancelled (its
 * aggregate state, and a fan-out that must stop), deliveries gain the terminal state `cancelled`,
 * and the daily counters a `cancelled` column.
 */
export class MessageCancel1767571200000 implements MigrationInterface {
  name = 'MessageCancel1767571200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE messages ADD COLUMN cancelled_at_ms bigint`);
    await q.query(`ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check`);
    await q.query(`ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check CHECK (state IN ('pending', 'sent', 'delivered', 'expired', 'failed', 'cancelled'))`);
    await q.query(`ALTER TABLE project_daily_stats ADD COLUMN cancelled bigint NOT NULL DEFAULT 0`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE project_daily_stats DROP COLUMN cancelled`);
    await q.query(`UPDATE deliveries SET state = 'failed' WHERE state = 'cancelled'`);
    await q.query(`ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check`);
    await q.query(`ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check CHECK (state IN ('pending', 'sent', 'delivered', 'expired', 'failed'))`);
    await q.query(`ALTER TABLE messages DROP COLUMN cancelled_at_ms`);
  }
}
