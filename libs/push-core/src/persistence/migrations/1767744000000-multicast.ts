import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Issue 16, point 2: a multicast message (target type `registrations`) names its recipients. */
export class Multicast1767744000000 implements MigrationInterface {
  name = 'Multicast1767744000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE messages DROP CONSTRAINT messages_target_type_check`);
    await q.query(`ALTER TABLE messages ADD CONSTRAINT messages_target_type_check CHECK (target_type IN ('device', 'application', 'topic', 'registrations'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM messages WHERE target_type = 'registrations'`);
    await q.query(`ALTER TABLE messages DROP CONSTRAINT messages_target_type_check`);
    await q.query(`ALTER TABLE messages ADD CONSTRAINT messages_target_type_check CHECK (target_type IN ('device', 'application', 'topic'))`);
  }
}
