import { Injectable } from '@nestjs/common';
import type { RegistrationReplyV1 } from '@borealis/contracts';
import type { Sql } from './push-db';

export interface Registration {
  id: string;
  projectId: string;
  applicationId: string;
  deviceId: string;
  /** The local user of the device ('' for the device's only user; protocol version 2). */
  deviceUser: string;
  live: boolean;
}

interface RegistrationRow {
  id: string;
  project_id: string;
  application_id: string;
  device_id: string;
  device_user: string;
  unregistered_at_ms: string | null;
}

const COLUMNS = 'id, project_id, application_id, device_id, device_user, unregistered_at_ms';

function toRegistration(row: RegistrationRow): Registration {
  return { id: row.id, projectId: row.project_id, applicationId: row.application_id, deviceId: row.device_id, deviceUser: row.device_user, live: row.unregistered_at_ms === null };
}

/** A registration as its project's app server sees it. */
export interface RegistrationDetails {
  id: string;
  projectId: string;
  applicationId: string;
  deviceId: string;
  createdAtMs: number;
  lastSeenAtMs: number;
  unregisteredAtMs: number | null;
}

/**
 * Registrations are addressed by the device that holds them: a device belongs to no tenant, and a
 * registration is only ever visible to the device it was issued to.
 */
@Injectable()
export class RegistrationRepository {
  async findReply(sql: Sql, deviceId: string, correlationId: string): Promise<RegistrationReplyV1 | undefined> {
    const [row] = await sql<{ reply: RegistrationReplyV1 }>(
      `SELECT reply FROM registration_requests WHERE device_id = $1 AND correlation_id = $2`,
      [deviceId, correlationId],
    );
    return row?.reply;
  }

  /** Fails on a duplicate (a concurrent twin of the request): the transaction retries and finds it. */
  async saveReply(sql: Sql, reply: RegistrationReplyV1, nowMs: number): Promise<void> {
    await sql(
      `INSERT INTO registration_requests (device_id, correlation_id, reply, created_at_ms) VALUES ($1, $2, $3, $4)`,
      [reply.deviceId, reply.correlationId, JSON.stringify(reply), nowMs],
    );
  }

  /** The registration if it was issued to this device, live or not. */
  async findOfDevice(sql: Sql, deviceId: string, registrationId: string): Promise<Registration | undefined> {
    const [row] = await sql<RegistrationRow>(`SELECT ${COLUMNS} FROM registrations WHERE id = $1 AND device_id = $2`, [registrationId, deviceId]);
    return row && toRegistration(row);
  }

  /** A device that connects is seen: its live registrations are not stale. */
  async touchDevices(sql: Sql, deviceIds: readonly string[], nowMs: number): Promise<void> {
    await sql(`UPDATE registrations SET last_seen_at_ms = $2 WHERE device_id = ANY($1) AND unregistered_at_ms IS NULL`, [deviceIds, nowMs]);
  }

  /** A live registration of this project (app servers name registrations by project). */
  async findLiveInProject(sql: Sql, projectId: string, registrationId: string): Promise<Registration | undefined> {
    const [row] = await sql<RegistrationRow>(
      `SELECT ${COLUMNS} FROM registrations WHERE id = $1 AND project_id = $2 AND unregistered_at_ms IS NULL`,
      [registrationId, projectId],
    );
    return row && toRegistration(row);
  }

  /** A registration of this project, live or not (until retention purges it). */
  async findInProject(sql: Sql, projectId: string, registrationId: string): Promise<RegistrationDetails | undefined> {
    const [row] = await sql<{ id: string; project_id: string; application_id: string; device_id: string; created_at_ms: string; last_seen_at_ms: string; unregistered_at_ms: string | null }>(
      `SELECT id, project_id, application_id, device_id, created_at_ms, last_seen_at_ms, unregistered_at_ms
         FROM registrations WHERE id = $1 AND project_id = $2`,
      [registrationId, projectId],
    );
    return (
      row && {
        id: row.id,
        projectId: row.project_id,
        applicationId: row.application_id,
        deviceId: row.device_id,
        createdAtMs: Number(row.created_at_ms),
        lastSeenAtMs: Number(row.last_seen_at_ms),
        unregisteredAtMs: row.unregistered_at_ms === null ? null : Number(row.unregistered_at_ms),
      }
    );
  }

  /** Live registrations per application of this project (applications without any are absent). */
  async countLiveByApplication(sql: Sql, projectId: string): Promise<Record<string, number>> {
    const rows = await sql<{ application_id: string; n: string }>(
      `SELECT application_id, count(*) AS n FROM registrations WHERE project_id = $1 AND unregistered_at_ms IS NULL GROUP BY application_id`,
      [projectId],
    );
    return Object.fromEntries(rows.map((r) => [r.application_id, Number(r.n)]));
  }

  /** Which of these ids are live registrations of this project. */
  async liveInProject(sql: Sql, projectId: string, registrationIds: readonly string[]): Promise<string[]> {
    if (registrationIds.length === 0) return [];
    const rows = await sql<{ id: string }>(`SELECT id FROM registrations WHERE id = ANY($1) AND project_id = $2 AND unregistered_at_ms IS NULL`, [registrationIds, projectId]);
    return rows.map((r) => r.id);
  }

  /** The registration's topics by name, at most `limit` of them, and how many it holds in all. */
  async topicsOf(sql: Sql, registrationId: string, limit: number): Promise<{ total: number; topics: { topic: string; createdAtMs: number }[] }> {
    const rows = await sql<{ topic: string; created_at_ms: string; total: number }>(
      `SELECT topic, created_at_ms, count(*) OVER ()::int AS total FROM registration_topics WHERE registration_id = $1 ORDER BY topic LIMIT $2`,
      [registrationId, limit],
    );
    return { total: rows[0]?.total ?? 0, topics: rows.map((r) => ({ topic: r.topic, createdAtMs: Number(r.created_at_ms) })) };
  }

  /** Unregisters up to `limit` live registrations not seen since `cutoffMs`; returns their ids. */
  async retireStale(sql: Sql, cutoffMs: number, limit: number, nowMs: number): Promise<string[]> {
    const rows = await sql<{ id: string }>(
      `UPDATE registrations SET unregistered_at_ms = $3
        WHERE id IN (SELECT id FROM registrations WHERE unregistered_at_ms IS NULL AND last_seen_at_ms < $1
                     LIMIT $2 FOR UPDATE SKIP LOCKED)
        RETURNING id`,
      [cutoffMs, limit, nowMs],
    );
    return rows.map((r) => r.id);
  }

  /** Retention: deletes up to `limit` registrations unregistered before `cutoffMs` (and their topics). */
  async purgeUnregistered(sql: Sql, cutoffMs: number, limit: number): Promise<number> {
    const rows = await sql(
      `DELETE FROM registrations WHERE id IN (SELECT id FROM registrations WHERE unregistered_at_ms < $1 LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING 1`,
      [cutoffMs, limit],
    );
    return rows.length;
  }

  /** Retention: stored answers are only needed while a request can still be redelivered. */
  async purgeReplies(sql: Sql, cutoffMs: number, limit: number): Promise<number> {
    const rows = await sql(
      `DELETE FROM registration_requests WHERE (device_id, correlation_id) IN (
         SELECT device_id, correlation_id FROM registration_requests WHERE created_at_ms < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)
       RETURNING 1`,
      [cutoffMs, limit],
    );
    return rows.length;
  }

  async touch(sql: Sql, registrationId: string, nowMs: number): Promise<void> {
    await sql(`UPDATE registrations SET last_seen_at_ms = $2 WHERE id = $1`, [registrationId, nowMs]);
  }

  /** A new registration, unconfirmed until its device connects after `requestedAtMs` (the transport's time of the Register). */
  async create(sql: Sql, registration: Omit<Registration, 'live'>, nowMs: number, requestedAtMs: number): Promise<void> {
    await sql(
      `INSERT INTO registrations (id, project_id, application_id, device_id, device_user, created_at_ms, last_seen_at_ms, unconfirmed_since_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $6, $7)`,
      [registration.id, registration.projectId, registration.applicationId, registration.deviceId, registration.deviceUser, nowMs, requestedAtMs],
    );
  }

  /** Live registrations of the device (every user and app). */
  async countLiveOfDevice(sql: Sql, deviceId: string): Promise<number> {
    const [row] = await sql<{ n: number }>(`SELECT count(*)::int AS n FROM registrations WHERE device_id = $1 AND unregistered_at_ms IS NULL`, [deviceId]);
    return row!.n;
  }

  /**
   * A device connected at `atMs` (the transport's clock): its registrations made before that
   * connection are confirmed. Those made on that same connection stay unconfirmed.
   */
  async confirmConnected(sql: Sql, connections: readonly { deviceId: string; atMs: number }[]): Promise<void> {
    if (connections.length === 0) return;
    await sql(
      `UPDATE registrations r SET unconfirmed_since_ms = NULL
         FROM unnest($1::text[], $2::bigint[]) AS c(device_id, at_ms)
        WHERE r.device_id = c.device_id AND r.unregistered_at_ms IS NULL AND r.unconfirmed_since_ms < c.at_ms`,
      [connections.map((c) => c.deviceId), connections.map((c) => c.atMs)],
    );
  }

  /** Up to `limit` live registrations still unconfirmed that were created before `cutoffMs`, locked for this transaction. */
  async unconfirmedBefore(sql: Sql, cutoffMs: number, limit: number): Promise<{ id: string; deviceId: string }[]> {
    const rows = await sql<{ id: string; device_id: string }>(
      `SELECT id, device_id FROM registrations
        WHERE unregistered_at_ms IS NULL AND unconfirmed_since_ms IS NOT NULL AND created_at_ms < $1
        LIMIT $2 FOR UPDATE SKIP LOCKED`,
      [cutoffMs, limit],
    );
    return rows.map((r) => ({ id: r.id, deviceId: r.device_id }));
  }

  async confirm(sql: Sql, registrationIds: readonly string[]): Promise<void> {
    if (registrationIds.length === 0) return;
    await sql(`UPDATE registrations SET unconfirmed_since_ms = NULL WHERE id = ANY($1)`, [registrationIds]);
  }

  /** Unregisters these live registrations; returns the ids this call unregistered. */
  async unregisterMany(sql: Sql, registrationIds: readonly string[], nowMs: number): Promise<string[]> {
    if (registrationIds.length === 0) return [];
    const rows = await sql<{ id: string }>(`UPDATE registrations SET unregistered_at_ms = $2 WHERE id = ANY($1) AND unregistered_at_ms IS NULL RETURNING id`, [registrationIds, nowMs]);
    return rows.map((r) => r.id);
  }

  /** Unregisters the live registration of this app of this user on this device, if any; returns its id. */
  async retireLive(sql: Sql, deviceId: string, deviceUser: string, applicationId: string, nowMs: number): Promise<string[]> {
    const rows = await sql<{ id: string }>(
      `UPDATE registrations SET unregistered_at_ms = $4
        WHERE device_id = $1 AND device_user = $2 AND application_id = $3 AND unregistered_at_ms IS NULL
        RETURNING id`,
      [deviceId, deviceUser, applicationId, nowMs],
    );
    return rows.map((r) => r.id);
  }

  async unregister(sql: Sql, registrationId: string, nowMs: number): Promise<void> {
    await sql(`UPDATE registrations SET unregistered_at_ms = $2 WHERE id = $1 AND unregistered_at_ms IS NULL`, [registrationId, nowMs]);
  }

  /** Unregisters a live registration of this project; returns whether this call did. */
  async unregisterInProject(sql: Sql, projectId: string, registrationId: string, nowMs: number): Promise<boolean> {
    const rows = await sql(`UPDATE registrations SET unregistered_at_ms = $3 WHERE id = $1 AND project_id = $2 AND unregistered_at_ms IS NULL RETURNING 1`, [
      registrationId,
      projectId,
      nowMs,
    ]);
    return rows.length > 0;
  }

  /** How many topics the registration would hold after subscribing to `topics`. */
  async topicCountWith(sql: Sql, registrationId: string, topics: readonly string[]): Promise<number> {
    const [row] = await sql<{ n: number }>(
      `SELECT count(*)::int + cardinality($2::text[]) AS n FROM registration_topics WHERE registration_id = $1 AND NOT (topic = ANY($2))`,
      [registrationId, topics],
    );
    return row!.n;
  }

  async subscribe(sql: Sql, registration: Registration, topics: readonly string[], nowMs: number): Promise<void> {
    await sql(
      `INSERT INTO registration_topics (registration_id, topic, project_id, created_at_ms)
       SELECT $1, topic, $2, $4 FROM unnest($3::text[]) AS topic
       ON CONFLICT DO NOTHING`,
      [registration.id, registration.projectId, topics, nowMs],
    );
  }

  async unsubscribe(sql: Sql, registrationId: string, topics: readonly string[]): Promise<void> {
    await sql(`DELETE FROM registration_topics WHERE registration_id = $1 AND topic = ANY($2)`, [registrationId, topics]);
  }
}
