import { Injectable } from '@nestjs/common';
import type { DeliveryState, Priority, TargetType } from '@borealis/contracts';
import { Delivery, OPEN_STATES, statesThatCanBecome } from '../domain/delivery-state';
import type { Sql, Statement } from './push-db';

/** A delivery with what the transport needs to hand it to the device. */
export interface OutboundDelivery {
  messageId: string;
  deviceId: string;
  applicationId: string;
  registrationId: string;
  title: string;
  message: string;
  data: string | null;
  expiresAtMs: number;
  priority: Priority;
}

/** A device-targeted message: its one recipient is resolved inline. */
export interface DeviceTargetMessage {
  id: string;
  projectId: string;
  registrationId: string;
  collapseKey: string | null;
  acceptedAtMs: number;
  expiresAtMs: number;
  /** A scheduled send's time: the delivery is not routed before it. */
  notBeforeMs: number | null;
}

/** A group message (application or topic target) whose recipients are resolved chunk by chunk. */
export interface GroupMessage {
  id: string;
  projectId: string;
  targetType: Exclude<TargetType, 'device' | 'registrations'>;
  targetValue: string;
  collapseKey: string | null;
  acceptedAtMs: number;
  expiresAtMs: number;
}

/** A delivery a statement created or found pending (fan-out output). */
export interface RecipientOfMessage {
  messageId: string;
  registrationId: string;
  deviceId: string;
  applicationId: string;
}

/** A row a state change touched, for the project counters. */
export interface ChangedRow {
  project_id: string;
}

export interface MovedRow extends ChangedRow {
  accepted_at_ms: number;
}

export interface RecipientRow {
  registrationId: string;
  state: DeliveryState;
  updatedAtMs: number;
  expiresAtMs: number;
}

interface OutboundRow {
  message_id: string;
  device_id: string;
  application_id: string;
  registration_id: string;
  title: string;
  body: string;
  data: string | null;
  expires_at_ms: string;
  priority: Priority;
}

/**
 * A fan-out chunk can be recomputed from its message (durable since the gateway's 200, stored by
 * the consumer with a synchronous commit) and the job's cursor, so its commit need not wait for
 * the WAL flush. Safe because WAL is flushed in order: the job's cursor only advances past a chunk
 * in a later, synchronous commit, which flushes the chunk too; a crash before that redoes the
 * chunk from the cursor. `SET LOCAL` ends with the transaction.
 */
const FAN_OUT_CHUNK_COMMITS_ASYNCHRONOUSLY = `SET LOCAL synchronous_commit = off`;

const OUTBOUND_SELECT = `
  SELECT d.message_id, d.device_id, d.application_id, d.registration_id, m.title, m.body, m.data, d.expires_at_ms, m.priority
    FROM deliveries d JOIN messages m ON m.id = d.message_id`;
/** Held by a scheduled send until its time: such a delivery is routed only once it is due (`nowParam`: the query's parameter holding now). */
const due = (nowParam: string): string => `(d.not_before_ms IS NULL OR d.not_before_ms <= ${nowParam})`;
/**
 * Per device: `high` priority first, then acceptance order (when the gateway accepted the message,
 * then its time-ordered id). A device that comes back to a backlog gets its urgent pushes first.
 */
const ACCEPTANCE_ORDER = "ORDER BY d.device_id, m.priority = 'high' DESC, d.accepted_at_ms, d.message_id";

function toRecipient(row: { message_id: string; registration_id: string; device_id: string; application_id: string }): RecipientOfMessage {
  return { messageId: row.message_id, registrationId: row.registration_id, deviceId: row.device_id, applicationId: row.application_id };
}

function toOutbound(row: OutboundRow): OutboundDelivery {
  return {
    messageId: row.message_id,
    deviceId: row.device_id,
    applicationId: row.application_id,
    registrationId: row.registration_id,
    title: row.title,
    message: row.body,
    data: row.data,
    expiresAtMs: Number(row.expires_at_ms),
    priority: row.priority,
  };
}

@Injectable()
export class DeliveryRepository {
  /**
   * Creates the pending delivery of each device-targeted message whose registration is live, in the
   * message's project and of an active application. Idempotent. Returns the deliveries created.
   */
  async createForDevices(sql: Sql, messages: readonly DeviceTargetMessage[], nowMs: number): Promise<RecipientOfMessage[]> {
    if (messages.length === 0) return [];
    const rows = await sql<{ message_id: string; registration_id: string; device_id: string; application_id: string }>(
      `INSERT INTO deliveries (message_id, registration_id, project_id, device_id, application_id, state,
                               accepted_at_ms, expires_at_ms, updated_at_ms, collapse_key, not_before_ms)
       SELECT m.id, r.id, r.project_id, r.device_id, r.application_id, $7, m.accepted_at_ms, m.expires_at_ms, $8, m.collapse_key, m.not_before_ms
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $9::bigint[])
                AS m(id, project_id, registration_id, collapse_key, accepted_at_ms, expires_at_ms, not_before_ms)
         JOIN registrations r ON r.id = m.registration_id AND r.project_id = m.project_id AND r.unregistered_at_ms IS NULL
         JOIN registry_applications a ON a.id = r.application_id AND a.project_id = r.project_id AND a.is_active
       ON CONFLICT (message_id, registration_id) DO NOTHING
       RETURNING message_id, registration_id, device_id, application_id`,
      [
        messages.map((m) => m.id),
        messages.map((m) => m.projectId),
        messages.map((m) => m.registrationId),
        messages.map((m) => m.collapseKey),
        messages.map((m) => m.acceptedAtMs),
        messages.map((m) => m.expiresAtMs),
        Delivery.pending,
        nowMs,
        messages.map((m) => m.notBeforeMs),
      ],
    );
    return rows.map(toRecipient);
  }

  /**
   * Creates the deliveries of the next `limit` recipients of a group message after `cursor` (in
   * registration id order). Returns the deliveries of that chunk that are pending, including those
   * an earlier, interrupted attempt created, so that a resumed fan-out routes them too, and the
   * last registration id of the chunk (null when there are no recipients after `cursor`). The
   * chunk commits asynchronously (see `FAN_OUT_CHUNK_COMMITS_ASYNCHRONOUSLY`).
   */
  async fanOutChunk(sql: Sql, message: GroupMessage, cursor: string, limit: number, nowMs: number): Promise<{ last: string | null; pending: RecipientOfMessage[] }> {
    const recipients =
      message.targetType === 'application'
        ? `SELECT r.id, r.device_id, r.application_id FROM registrations r
            WHERE r.project_id = $2 AND r.application_id = $3 AND r.unregistered_at_ms IS NULL AND r.id > $4
            ORDER BY r.id LIMIT $5`
        : `SELECT r.id, r.device_id, r.application_id FROM registration_topics t
             JOIN registrations r ON r.id = t.registration_id AND r.unregistered_at_ms IS NULL
             JOIN registry_applications a ON a.id = r.application_id AND a.project_id = r.project_id AND a.is_active
            WHERE t.project_id = $2 AND t.topic = $3 AND t.registration_id > $4
            ORDER BY t.registration_id LIMIT $5`;
    await sql(FAN_OUT_CHUNK_COMMITS_ASYNCHRONOUSLY);
    const rows = await sql<{ last: string | null; registration_id: string | null; device_id: string; application_id: string }>(
      `WITH r AS (${recipients}),
       ins AS (
         INSERT INTO deliveries (message_id, registration_id, project_id, device_id, application_id, state,
                                 accepted_at_ms, expires_at_ms, updated_at_ms, collapse_key)
         SELECT $1, r.id, $2, r.device_id, r.application_id, $6, $7, $8, $9, $10 FROM r
         ON CONFLICT (message_id, registration_id) DO UPDATE SET updated_at_ms = deliveries.updated_at_ms
           WHERE deliveries.state = $6
         RETURNING registration_id, device_id, application_id
       )
       SELECT x.last, ins.registration_id, ins.device_id, ins.application_id
         FROM (SELECT max(id) AS last FROM r) x LEFT JOIN ins ON true`,
      [message.id, message.projectId, message.targetValue, cursor, limit, Delivery.pending, message.acceptedAtMs, message.expiresAtMs, nowMs, message.collapseKey],
    );
    const last = rows[0]?.last ?? null;
    const pending: RecipientOfMessage[] = [];
    for (const r of rows) {
      if (r.registration_id !== null) pending.push({ messageId: message.id, registrationId: r.registration_id, deviceId: r.device_id, applicationId: r.application_id });
    }
    return { last, pending };
  }

  /**
   * Collapse: among these registrations' pending deliveries with this collapse key, only the newest
   * message (acceptance order) stays; the older ones end as expired (superseded). Returns them.
   */
  async collapse(sql: Sql, collapseKey: string, registrationIds: readonly string[], nowMs: number): Promise<(ChangedRow & { message_id: string; registration_id: string })[]> {
    if (registrationIds.length === 0) return [];
    return sql(
      `WITH newest AS (
         SELECT DISTINCT ON (registration_id) registration_id, accepted_at_ms, message_id
           FROM deliveries
          WHERE registration_id = ANY($1) AND collapse_key = $2 AND state = $3
          ORDER BY registration_id, accepted_at_ms DESC, message_id DESC
       )
       UPDATE deliveries d SET state = $4, updated_at_ms = $5
         FROM newest n
        WHERE d.registration_id = n.registration_id AND d.collapse_key = $2 AND d.state = $3
          AND (d.accepted_at_ms, d.message_id) < (n.accepted_at_ms, n.message_id)
        RETURNING d.project_id, d.message_id, d.registration_id`,
      [registrationIds, collapseKey, Delivery.pending, Delivery.expired, nowMs],
    );
  }

  /** TTL 0: the deliveries of this message that could not be routed now expire at once. */
  async expireUnrouted(sql: Sql, messageId: string, registrationIds: readonly string[], nowMs: number): Promise<ChangedRow[]> {
    if (registrationIds.length === 0) return [];
    return sql(
      `UPDATE deliveries SET state = $3, updated_at_ms = $4
        WHERE message_id = $1 AND registration_id = ANY($2) AND state = $5
        RETURNING project_id`,
      [messageId, registrationIds, Delivery.expired, nowMs, Delivery.pending],
    );
  }

  /** The unexpired, due deliveries of these messages that are in one of `states`. */
  async outboundOfMessages(sql: Sql, messageIds: readonly string[], states: readonly DeliveryState[], nowMs: number): Promise<OutboundDelivery[]> {
    if (messageIds.length === 0) return [];
    const rows = await sql<OutboundRow>(
      `${OUTBOUND_SELECT} WHERE d.message_id = ANY($1) AND d.state = ANY($2) AND d.expires_at_ms > $3 AND ${due('$3')} ${ACCEPTANCE_ORDER}`,
      [messageIds, states, nowMs],
    );
    return rows.map(toOutbound);
  }

  /** The unexpired, due deliveries of these devices that are in one of `states`: high priority first, then in acceptance order. */
  async outboundOfDevices(sql: Sql, deviceIds: readonly string[], states: readonly DeliveryState[], nowMs: number): Promise<OutboundDelivery[]> {
    if (deviceIds.length === 0) return [];
    const rows = await sql<OutboundRow>(
      `${OUTBOUND_SELECT} WHERE d.device_id = ANY($1) AND d.state = ANY($2) AND d.expires_at_ms > $3 AND ${due('$3')} ${ACCEPTANCE_ORDER}`,
      [deviceIds, states, nowMs],
    );
    return rows.map(toOutbound);
  }

  /**
   * Scheduled deliveries whose time has come (pending, unexpired), oldest first, locked for this
   * transaction (`SKIP LOCKED`: two push-core instances release different ones).
   */
  async lockDueScheduled(sql: Sql, nowMs: number, limit: number): Promise<OutboundDelivery[]> {
    const rows = await sql<OutboundRow>(
      `${OUTBOUND_SELECT}
        WHERE d.not_before_ms IS NOT NULL AND d.state = $1 AND d.not_before_ms <= $2 AND d.expires_at_ms > $2
        ORDER BY d.not_before_ms, d.message_id, d.registration_id
        LIMIT $3
        FOR UPDATE OF d SKIP LOCKED`,
      [Delivery.pending, nowMs, limit],
    );
    return rows.map(toOutbound);
  }

  /** Released: these deliveries are routed like any other from now on (reconnects, re-routes). */
  async clearSchedule(sql: Sql, deliveries: readonly { messageId: string; registrationId: string }[]): Promise<void> {
    if (deliveries.length === 0) return;
    await sql(
      `UPDATE deliveries d SET not_before_ms = NULL
         FROM unnest($1::text[], $2::text[]) AS p(message_id, registration_id)
        WHERE d.message_id = p.message_id AND d.registration_id = p.registration_id`,
      [deliveries.map((d) => d.messageId), deliveries.map((d) => d.registrationId)],
    );
  }

  /** Like `outboundOfDevices`, restricted to the given (device, message) pairs. */
  async outboundOfPairs(
    sql: Sql,
    pairs: readonly { deviceId: string; messageId: string }[],
    states: readonly DeliveryState[],
    nowMs: number,
  ): Promise<OutboundDelivery[]> {
    if (pairs.length === 0) return [];
    const rows = await sql<OutboundRow>(
      `${OUTBOUND_SELECT}
         JOIN unnest($1::text[], $2::text[]) AS p(device_id, message_id) ON p.device_id = d.device_id AND p.message_id = d.message_id
        WHERE d.state = ANY($3) AND d.expires_at_ms > $4 AND ${due('$4')} ${ACCEPTANCE_ORDER}`,
      [pairs.map((p) => p.deviceId), pairs.map((p) => p.messageId), states, nowMs],
    );
    return rows.map(toOutbound);
  }

  /**
   * Moves the deliveries of these (device, message) pairs to `to`, from whichever states the
   * lifecycle allows (never out of a terminal state); a pair names only its own device's
   * deliveries. Each pair at most once per call. Returns the rows moved.
   */
  async transition(sql: Sql, pairs: readonly { deviceId: string; messageId: string }[], to: DeliveryState, nowMs: number): Promise<MovedRow[]> {
    if (pairs.length === 0) return [];
    const { text, params } = this.transitionStatement(pairs, to, nowMs);
    return sql(text, params);
  }

  /** `transition`'s statement, for a caller that runs it inside its own (StatsRepository.countChanged). */
  transitionStatement(pairs: readonly { deviceId: string; messageId: string }[], to: DeliveryState, nowMs: number): Statement {
    return {
      text: `UPDATE deliveries d SET state = $3, updated_at_ms = $5
         FROM unnest($1::text[], $2::text[]) AS p(device_id, message_id)
        WHERE d.device_id = p.device_id AND d.message_id = p.message_id AND d.state = ANY($4)
        RETURNING d.project_id, d.accepted_at_ms::float8 AS accepted_at_ms`,
      params: [pairs.map((p) => p.deviceId), pairs.map((p) => p.messageId), to, statesThatCanBecome(to), nowMs],
    };
  }

  /** Cancels the open deliveries of a message of this project. Returns the rows it cancelled. */
  async cancelOpen(sql: Sql, projectId: string, messageId: string, nowMs: number): Promise<(ChangedRow & { device_id: string; message_id: string })[]> {
    return sql(
      `UPDATE deliveries SET state = $3, updated_at_ms = $4
        WHERE project_id = $1 AND message_id = $2 AND state = ANY($5)
        RETURNING project_id, device_id, message_id`,
      [projectId, messageId, Delivery.cancelled, nowMs, statesThatCanBecome(Delivery.cancelled)],
    );
  }

  /** Deliveries not in a terminal state yet (the pending-deliveries gauge). */
  async countOpen(sql: Sql): Promise<number> {
    const [row] = await sql<{ n: number }>(`SELECT count(*)::float8 AS n FROM deliveries WHERE state = ANY($1)`, [OPEN_STATES]);
    return row?.n ?? 0;
  }

  /** Records the expiry of these devices' deliveries whose TTL has passed. */
  async expireDue(sql: Sql, deviceIds: readonly string[], nowMs: number): Promise<ChangedRow[]> {
    if (deviceIds.length === 0) return [];
    return sql(
      `UPDATE deliveries SET state = $2, updated_at_ms = $4
        WHERE device_id = ANY($1) AND state = ANY($3) AND expires_at_ms <= $4
        RETURNING project_id`,
      [deviceIds, Delivery.expired, statesThatCanBecome(Delivery.expired), nowMs],
    );
  }

  /** The sweeper: records the expiry of up to `limit` open deliveries whose TTL has passed. */
  async expireSomeDue(sql: Sql, nowMs: number, limit: number): Promise<ChangedRow[]> {
    return sql(
      `UPDATE deliveries d SET state = $1, updated_at_ms = $2
         FROM (SELECT message_id, registration_id FROM deliveries
                WHERE state IN ('pending', 'sent') AND expires_at_ms <= $2
                LIMIT $3 FOR UPDATE SKIP LOCKED) due
        WHERE d.message_id = due.message_id AND d.registration_id = due.registration_id
        RETURNING d.project_id`,
      [Delivery.expired, nowMs, limit],
    );
  }

  /**
   * A registration that goes away fails its deliveries that have not reached the device. They are
   * found through the registration's device (a device holds few), which spares `deliveries` an
   * index by registration that every fan-out row would pay for.
   */
  async failOpenOfRegistrations(sql: Sql, registrationIds: readonly string[], nowMs: number): Promise<(ChangedRow & { device_id: string; message_id: string })[]> {
    if (registrationIds.length === 0) return [];
    return sql(
      `UPDATE deliveries d SET state = $2, updated_at_ms = $4
         FROM registrations r
        WHERE r.id = ANY($1) AND d.device_id = r.device_id AND d.registration_id = r.id AND d.state = ANY($3)
        RETURNING d.project_id, d.device_id, d.message_id`,
      [registrationIds, Delivery.failed, statesThatCanBecome(Delivery.failed), nowMs],
    );
  }

  /** Retention: deletes up to `limit` deliveries of these messages. Returns how many it deleted. */
  async deleteOfMessages(sql: Sql, messageIds: readonly string[], limit: number): Promise<number> {
    if (messageIds.length === 0) return 0;
    const rows = await sql(
      `DELETE FROM deliveries d USING (
         SELECT message_id, registration_id FROM deliveries WHERE message_id = ANY($1) LIMIT $2 FOR UPDATE SKIP LOCKED
       ) old
       WHERE d.message_id = old.message_id AND d.registration_id = old.registration_id
       RETURNING 1`,
      [messageIds, limit],
    );
    return rows.length;
  }

  /** Counts per stored state, split by whether the TTL has passed (read-time expiry). */
  async stateCounts(sql: Sql, projectId: string, messageId: string, nowMs: number): Promise<{ state: DeliveryState; pastExpiry: boolean; n: number }[]> {
    const rows = await sql<{ state: DeliveryState; past_expiry: boolean; n: number }>(
      `SELECT state, expires_at_ms <= $3 AS past_expiry, count(*)::int AS n
         FROM deliveries WHERE project_id = $1 AND message_id = $2
        GROUP BY 1, 2`,
      [projectId, messageId, nowMs],
    );
    return rows.map((r) => ({ state: r.state, pastExpiry: r.past_expiry, n: r.n }));
  }

  /** `stateCounts` for several messages of one project at once. */
  async stateCountsOfMessages(sql: Sql, projectId: string, messageIds: readonly string[], nowMs: number): Promise<{ messageId: string; state: DeliveryState; pastExpiry: boolean; n: number }[]> {
    if (messageIds.length === 0) return [];
    const rows = await sql<{ message_id: string; state: DeliveryState; past_expiry: boolean; n: number }>(
      `SELECT message_id, state, expires_at_ms <= $3 AS past_expiry, count(*)::int AS n
         FROM deliveries WHERE message_id = ANY($2) AND project_id = $1
        GROUP BY 1, 2, 3`,
      [projectId, messageIds, nowMs],
    );
    return rows.map((r) => ({ messageId: r.message_id, state: r.state, pastExpiry: r.past_expiry, n: r.n }));
  }

  async recipients(sql: Sql, projectId: string, messageId: string, limit: number): Promise<RecipientRow[]> {
    const rows = await sql<{ registration_id: string; state: DeliveryState; updated_at_ms: string; expires_at_ms: string }>(
      `SELECT registration_id, state, updated_at_ms, expires_at_ms
         FROM deliveries WHERE project_id = $1 AND message_id = $2
        ORDER BY registration_id LIMIT $3`,
      [projectId, messageId, limit],
    );
    return rows.map((r) => ({
      registrationId: r.registration_id,
      state: r.state,
      updatedAtMs: Number(r.updated_at_ms),
      expiresAtMs: Number(r.expires_at_ms),
    }));
  }
}
