import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 5: streaming group fan-out (keyset indexes and a job table), collapse keys on deliveries,
 * per-project daily counters, and the indexes the sweeper (expiry, stale registrations, retention)
 * walks.
 */
export class FanOutStatsRetention1767312000000 implements MigrationInterface {
  name = 'FanOutStatsRetention1767312000000';

  async up(q: QueryRunner): Promise<void> {
    // Keyset pagination over an application's live registrations (fan-out reads them in id order).
    await q.query(`DROP INDEX registrations_live_by_project_app`);
    await q.query(`
      CREATE INDEX registrations_live_by_project_app ON registrations (project_id, application_id, id)
        WHERE unregistered_at_ms IS NULL`);
    await q.query(`DROP INDEX registration_topics_by_project_topic`);
    await q.query(`CREATE INDEX registration_topics_by_project_topic ON registration_topics (project_id, topic, registration_id)`);
    // Stale registrations: live ones not seen for a long time.
    await q.query(`CREATE INDEX registrations_live_by_last_seen ON registrations (last_seen_at_ms) WHERE unregistered_at_ms IS NULL`);
    // Retention: unregistered registrations are purged after the retention period.
    await q.query(`CREATE INDEX registrations_unregistered ON registrations (unregistered_at_ms) WHERE unregistered_at_ms IS NOT NULL`);

    // TTL 0 ("now or never") changes how a group message is fanned out.
    await q.query(`ALTER TABLE messages ADD COLUMN ttl_seconds bigint`);
    await q.query(`UPDATE messages SET ttl_seconds = (expires_at_ms - accepted_at_ms) / 1000`);
    await q.query(`ALTER TABLE messages ALTER COLUMN ttl_seconds SET NOT NULL`);

    await q.query(`ALTER TABLE deliveries ADD COLUMN collapse_key text`);
    // A newer pending message with the same collapse key replaces the older one for a registration.
    await q.query(`
      CREATE INDEX deliveries_pending_by_collapse_key ON deliveries (registration_id, collapse_key)
        WHERE state = 'pending' AND collapse_key IS NOT NULL`);
    // The expiry sweeper: open deliveries by expiry.
    await q.query(`CREATE INDEX deliveries_open_by_expiry ON deliveries (expires_at_ms) WHERE state IN ('pending', 'sent')`);
    // Retention walks messages by expiry.
    await q.query(`CREATE INDEX messages_by_expiry ON messages (expires_at_ms)`);
    await q.query(`CREATE INDEX registration_requests_by_age ON registration_requests (created_at_ms)`);

    // A group message (application or topic target) whose recipients are still being resolved.
    // `cursor` is the last registration id whose delivery was created and routed.
    await q.query(`
      CREATE TABLE fanout_jobs (
        message_id    text PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
        cursor        text NOT NULL DEFAULT '',
        created_at_ms bigint NOT NULL
      )`);

    await q.query(`
      CREATE TABLE project_daily_stats (
        project_id text NOT NULL,
        day        date NOT NULL,
        accepted   bigint NOT NULL DEFAULT 0,
        delivered  bigint NOT NULL DEFAULT 0,
        expired    bigint NOT NULL DEFAULT 0,
        failed     bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (project_id, day)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE project_daily_stats`);
    await q.query(`DROP TABLE fanout_jobs`);
    for (const index of [
      'registration_requests_by_age',
      'messages_by_expiry',
      'deliveries_open_by_expiry',
      'deliveries_pending_by_collapse_key',
      'registrations_unregistered',
      'registrations_live_by_last_seen',
    ]) {
      await q.query(`DROP INDEX ${index}`);
    }
    await q.query(`ALTER TABLE deliveries DROP COLUMN collapse_key`);
    await q.query(`ALTER TABLE messages DROP COLUMN ttl_seconds`);
    await q.query(`DROP INDEX registration_topics_by_project_topic`);
    await q.query(`CREATE INDEX registration_topics_by_project_topic ON registration_topics (project_id, topic)`);
    await q.query(`DROP INDEX registrations_live_by_project_app`);
    await q.query(`CREATE INDEX registrations_live_by_project_app ON registrations (project_id, application_id) WHERE unregistered_at_ms IS NULL`);
  }
}
