import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Multi-user devices (device protocol version 2): a registration belongs to (device, local user,
 * application), so the same app of two OS users on one device holds two live registrations. The
 * user is an opaque key chosen by the device's push daemon; '' is the device's only user (and
 * every registration made over protocol version 1).
 */
export class DeviceUsers1767571200000 implements MigrationInterface {
  name = 'DeviceUsers1767571200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE registrations ADD COLUMN device_user text NOT NULL DEFAULT ''`);
    await q.query(`DROP INDEX registrations_live_by_device_app`);
    await q.query(`
      CREATE UNIQUE INDEX registrations_live_by_device_user_app ON registrations (device_id, device_user, application_id)
        WHERE unregistered_at_ms IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    // Going back to one live registration per (device, app): other users' registrations end.
    await q.query(`UPDATE registrations SET unregistered_at_ms = last_seen_at_ms WHERE device_user <> '' AND unregistered_at_ms IS NULL`);
    await q.query(`DROP INDEX registrations_live_by_device_user_app`);
    await q.query(`ALTER TABLE registrations DROP COLUMN device_user`);
    await q.query(`
      CREATE UNIQUE INDEX registrations_live_by_device_app ON registrations (device_id, application_id)
        WHERE unregistered_at_ms IS NULL`);
  }
}
