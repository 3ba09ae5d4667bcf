import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Issue 16, point 7: a project's messages, newest first, a page at a time (keyset pagination). */
export class MessageListing1767657600000 implements MigrationInterface {
  name = 'MessageListing1767657600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX messages_by_project_newest ON messages (project_id, accepted_at_ms DESC, id DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX messages_by_project_newest`);
  }
}
