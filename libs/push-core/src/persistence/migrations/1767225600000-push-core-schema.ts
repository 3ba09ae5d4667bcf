import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The Push DB. Times are milliseconds since the Unix epoch (bigint), as in the events. push-core
 * keeps its own view of the registry (projects, applications) from auth's registry events.
 */
export class PushCoreSchema1767225600000 implements MigrationInterface {
  name = 'PushCoreSchema1767225600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE registry_projects (
        id            text PRIMARY KEY,
        is_active     boolean NOT NULL,
        updated_at_ms bigint NOT NULL
      )`);
    await q.query(`
      CREATE TABLE registry_applications (
        id            text PRIMARY KEY,
        project_id    text NOT NULL,
        is_active     boolean NOT NULL,
        updated_at_ms bigint NOT NULL
      )`);

    await q.query(`
      CREATE TABLE registrations (
        id                 text PRIMARY KEY,
        project_id         text NOT NULL,
        application_id     text NOT NULL,
        device_id          text NOT NULL,
        created_at_ms      bigint NOT NULL,
        last_seen_at_ms    bigint NOT NULL,
        unregistered_at_ms bigint
      )`);
    // At most one live registration per app on a device; also the lookup of registrate().
    await q.query(`
      CREATE UNIQUE INDEX registrations_live_by_device_app ON registrations (device_id, application_id)
        WHERE unregistered_at_ms IS NULL`);
    // Recipients of an application-targeted message.
    await q.query(`
      CREATE INDEX registrations_live_by_project_app ON registrations (project_id, application_id)
        WHERE unregistered_at_ms IS NULL`);

    await q.query(`
      CREATE TABLE registration_topics (
        registration_id text NOT NULL REFERENCES registrations (id) ON DELETE CASCADE,
        topic           text NOT NULL,
        project_id      text NOT NULL,
        created_at_ms   bigint NOT NULL,
        PRIMARY KEY (registration_id, topic)
      )`);
    // Recipients of a topic-targeted message.
    await q.query(`CREATE INDEX registration_topics_by_project_topic ON registration_topics (project_id, topic)`);

    // The answer to each registration request, so that a redelivered request gets the same answer.
    await q.query(`
      CREATE TABLE registration_requests (
        device_id      text NOT NULL,
        correlation_id text NOT NULL,
        reply          jsonb NOT NULL,
        created_at_ms  bigint NOT NULL,
        PRIMARY KEY (device_id, correlation_id)
      )`);

    await q.query(`
      CREATE TABLE messages (
        id             text PRIMARY KEY,
        project_id     text NOT NULL,
        target_type    text NOT NULL CHECK (target_type IN ('device', 'application', 'topic')),
        target_value   text NOT NULL,
        title          text NOT NULL,
        body           text NOT NULL,
        data           text,
        priority       text NOT NULL,
        collapse_key   text,
        accepted_at_ms bigint NOT NULL,
        expires_at_ms  bigint NOT NULL,
        outcome        text NOT NULL CHECK (outcome IN ('stored', 'expired', 'failed')),
        failure_reason text,
        stored_at_ms   bigint NOT NULL
      )`);

    await q.query(`
      CREATE TABLE deliveries (
        message_id      text NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        registration_id text NOT NULL,
        project_id      text NOT NULL,
        device_id       text NOT NULL,
        application_id  text NOT NULL,
        state           text NOT NULL CHECK (state IN ('pending', 'sent', 'delivered', 'expired', 'failed')),
        accepted_at_ms  bigint NOT NULL,
        expires_at_ms   bigint NOT NULL,
        updated_at_ms   bigint NOT NULL,
        PRIMARY KEY (message_id, registration_id)
      )`);
    // A device's open deliveries in acceptance order (reconnect, receipts).
    await q.query(`CREATE INDEX deliveries_by_device_state ON deliveries (device_id, state, accepted_at_ms, message_id)`);
    // Failing the open deliveries of a registration that goes away.
    await q.query(`
      CREATE INDEX deliveries_open_by_registration ON deliveries (registration_id)
        WHERE state IN ('pending', 'sent')`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['deliveries', 'messages', 'registration_requests', 'registration_topics', 'registrations', 'registry_applications', 'registry_projects']) {
      await q.query(`DROP TABLE ${table}`);
    }
  }
}
