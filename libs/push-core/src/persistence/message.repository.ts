import { Injectable } from '@nestjs/common';
import type { MessageAcceptedV1, Priority, TargetType } from '@borealis/contracts';
import { Delivery } from '../domain/delivery-state';
import type { MessageOutcome } from '../domain/message-status';
import { utcDay } from '../domain/stats';
import type { GroupMessage } from './delivery.repository';
import type { Sql } from './push-db';

export interface NewMessage {
  message: MessageAcceptedV1;
  /** When its deliveries expire (TTL 0 gets a short window, see domain/expiry). */
  expiresAtMs: number;
  outcome: MessageOutcome;
  failureReason: string | null;
}

/** What a fan-out needs of a stored group message. */
export interface GroupMessageContent extends GroupMessage {
  title: string;
  body: string;
  data: string | null;
  ttlSeconds: number;
  priority: Priority;
}

export interface StoredMessage {
  id: string;
  projectId: string;
  targetType: TargetType;
  targetValue: string;
  acceptedAtMs: number;
  expiresAtMs: number;
  outcome: MessageOutcome;
  cancelledAtMs: number | null;
  /** A scheduled send's time, else null. */
  sendAtMs: number | null;
}

interface StoredMessageRow {
  id: string;
  project_id: string;
  target_type: TargetType;
  target_value: string;
  accepted_at_ms: string;
  expires_at_ms: string;
  outcome: MessageOutcome;
  cancelled_at_ms: string | null;
  send_at_ms: string | null;
}

const STORED_MESSAGE_COLUMNS = 'id, project_id, target_type, target_value, accepted_at_ms, expires_at_ms, outcome, cancelled_at_ms, send_at_ms';

const msOrNull = (value: string | null): number | null => (value === null ? null : Number(value));

function toStoredMessage(row: StoredMessageRow): StoredMessage {
  return {
    id: row.id,
    projectId: row.project_id,
    targetType: row.target_type,
    targetValue: row.target_value,
    acceptedAtMs: Number(row.accepted_at_ms),
    expiresAtMs: Number(row.expires_at_ms),
    outcome: row.outcome,
    cancelledAtMs: msOrNull(row.cancelled_at_ms),
    sendAtMs: msOrNull(row.send_at_ms),
  };
}

/** The columns both inserts of messages write, in the order of `messageColumns` (then `stored_at_ms`). */
const MESSAGE_COLUMNS = `id, project_id, target_type, target_value, title, body, data, priority, collapse_key,
  accepted_at_ms, expires_at_ms, outcome, failure_reason, ttl_seconds, send_at_ms`;
/** `messageColumns` as rows: parameters $1 to $15. */
const MESSAGE_ROWS = `unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
  $10::bigint[], $11::bigint[], $12::text[], $13::text[], $14::bigint[], $15::bigint[])`;

/**
 * The messages as the 15 parameter arrays both inserts unnest, in the column order of
 * `INSERT INTO messages` (`stored_at_ms` comes after them).
 */
function messageColumns(messages: readonly NewMessage[]): unknown[][] {
  const column = <T>(pick: (m: NewMessage) => T) => messages.map(pick);
  return [
    column((m) => m.message.messageId),
    column((m) => m.message.projectId),
    column((m) => m.message.target.type),
    column((m) => m.message.target.value),
    column((m) => m.message.notification.title),
    column((m) => m.message.notification.message),
    column((m) => m.message.notification.data),
    column((m) => m.message.priority),
    column((m) => m.message.collapseKey),
    column((m) => m.message.acceptedAtMs),
    column((m) => m.expiresAtMs),
    column((m) => m.outcome),
    column((m) => m.failureReason),
    column((m) => m.message.ttlSeconds),
    column((m) => m.message.sendAtMs ?? null),
  ];
}

@Injectable()
export class MessageRepository {
  /** Inserts the messages not stored yet (keyed by message id); returns the ids it inserted. */
  async insertNew(sql: Sql, messages: readonly NewMessage[], nowMs: number): Promise<Set<string>> {
    if (messages.length === 0) return new Set();
    const rows = await sql<{ id: string }>(
      `INSERT INTO messages (${MESSAGE_COLUMNS}, stored_at_ms)
       SELECT m.*, $16::bigint FROM ${MESSAGE_ROWS} AS m
       ON CONFLICT (id) DO NOTHING
       RETURNING id`,
      [...messageColumns(messages), nowMs],
    );
    return new Set(rows.map((r) => r.id));
  }

  /**
   * Device-targeted and multicast messages with their deliveries, as one statement (atomic without
   * a transaction), for `StatsRepository.withCounts` (its CTE `counts`). It inserts the messages
   * not stored yet. One that admission let through (`stored`) but none of whose listed
   * registrations is live in its project, of an active application, is stored `failed` with
   * `unreachableReason`; the others get a pending delivery per such registration (`targets`, one
   * per message and registration). It counts each inserted message `accepted` on the UTC day it
   * was accepted, and one not `stored` under its outcome on `nowMs`'s day. The rows: one per
   * inserted message (`kind` 'message': `id`, `project_id`, `outcome`, `failure_reason`) and one
   * per created delivery (`kind` 'delivery': `id` its message's, `registration_id`, `device_id`,
   * `application_id`).
   */
  storeListedStatement(
    messages: readonly NewMessage[],
    targets: readonly { messageId: string; registrationId: string }[],
    nowMs: number,
    unreachableReason: string,
  ): { ctes: string; select: string; params: unknown[] } {
    return {
      ctes: `input AS (SELECT * FROM ${MESSAGE_ROWS} AS i(${MESSAGE_COLUMNS})),
       reach AS (
         SELECT t.message_id, r.id AS registration_id, r.project_id, r.device_id, r.application_id
           FROM unnest($17::text[], $18::text[]) AS t(message_id, registration_id)
           JOIN input i ON i.id = t.message_id AND i.outcome = 'stored'
           JOIN registrations r ON r.id = t.registration_id AND r.project_id = i.project_id AND r.unregistered_at_ms IS NULL
           JOIN registry_applications a ON a.id = r.application_id AND a.project_id = r.project_id AND a.is_active
       ),
       judged AS (
         SELECT i.*, (i.outcome = 'stored' AND NOT EXISTS (SELECT 1 FROM reach WHERE reach.message_id = i.id)) AS unreachable FROM input i
       ),
       stored AS (
         INSERT INTO messages (${MESSAGE_COLUMNS}, stored_at_ms)
         SELECT id, project_id, target_type, target_value, title, body, data, priority, collapse_key, accepted_at_ms, expires_at_ms,
                CASE WHEN unreachable THEN 'failed' ELSE outcome END, CASE WHEN unreachable THEN $19 ELSE failure_reason END,
                ttl_seconds, send_at_ms, $16::bigint
           FROM judged
         ON CONFLICT (id) DO NOTHING
         RETURNING id, project_id, outcome, failure_reason, accepted_at_ms
       ),
       created AS (
         INSERT INTO deliveries (message_id, registration_id, project_id, device_id, application_id, state,
                                 accepted_at_ms, expires_at_ms, updated_at_ms, collapse_key, not_before_ms)
         SELECT r.message_id, r.registration_id, r.project_id, r.device_id, r.application_id, $20, i.accepted_at_ms, i.expires_at_ms, $16::bigint,
                i.collapse_key, i.send_at_ms
           FROM reach r JOIN stored s ON s.id = r.message_id JOIN input i ON i.id = r.message_id
         ON CONFLICT (message_id, registration_id) DO NOTHING
         RETURNING message_id, registration_id, device_id, application_id
       ),
       counts AS (
         SELECT project_id, day, sum(accepted)::bigint AS accepted, sum(expired)::bigint AS expired, sum(failed)::bigint AS failed FROM (
           SELECT project_id, (to_timestamp(accepted_at_ms / 1000.0) AT TIME ZONE 'UTC')::date AS day, 1 AS accepted, 0 AS expired, 0 AS failed FROM stored
           UNION ALL
           SELECT project_id, $21::date, 0, (outcome = 'expired')::int, (outcome = 'failed')::int FROM stored WHERE outcome <> 'stored'
         ) c
         GROUP BY project_id, day
       )`,
      select: `SELECT 'message' AS kind, id, outcome, failure_reason, NULL::text AS registration_id, NULL::text AS device_id, NULL::text AS application_id FROM stored
       UNION ALL
       SELECT 'delivery', message_id, NULL, NULL, registration_id, device_id, application_id FROM created`,
      params: [
        ...messageColumns(messages),
        nowMs,
        targets.map((t) => t.messageId),
        targets.map((t) => t.registrationId),
        unreachableReason,
        Delivery.pending,
        utcDay(nowMs),
      ],
    };
  }

  async markFailed(sql: Sql, messageIds: readonly string[], reason: string): Promise<void> {
    if (messageIds.length === 0) return;
    await sql(`UPDATE messages SET outcome = 'failed', failure_reason = $2 WHERE id = ANY($1)`, [messageIds, reason]);
  }

  /** A stored group message with its content, for the fan-out. */
  async groupMessage(sql: Sql, messageId: string): Promise<GroupMessageContent | undefined> {
    const [row] = await sql<{
      id: string;
      project_id: string;
      target_type: 'application' | 'topic';
      target_value: string;
      collapse_key: string | null;
      accepted_at_ms: string;
      expires_at_ms: string;
      title: string;
      body: string;
      data: string | null;
      ttl_seconds: string;
      priority: Priority;
    }>(
      `SELECT id, project_id, target_type, target_value, collapse_key, accepted_at_ms, expires_at_ms, title, body, data,
              ttl_seconds, priority
         FROM messages WHERE id = $1 AND target_type IN ('application', 'topic')`,
      [messageId],
    );
    return (
      row && {
        id: row.id,
        projectId: row.project_id,
        targetType: row.target_type,
        targetValue: row.target_value,
        collapseKey: row.collapse_key,
        acceptedAtMs: Number(row.accepted_at_ms),
        expiresAtMs: Number(row.expires_at_ms),
        title: row.title,
        body: row.body,
        data: row.data,
        ttlSeconds: Number(row.ttl_seconds),
        priority: row.priority,
      }
    );
  }

  async hasDeliveries(sql: Sql, messageId: string): Promise<boolean> {
    const [row] = await sql<{ found: boolean }>(`SELECT EXISTS (SELECT 1 FROM deliveries WHERE message_id = $1) AS found`, [messageId]);
    return row!.found;
  }

  /** Retention: messages whose expiry is before `cutoffMs`. */
  async expiredBefore(sql: Sql, cutoffMs: number, limit: number): Promise<string[]> {
    const rows = await sql<{ id: string }>(`SELECT id FROM messages WHERE expires_at_ms < $1 ORDER BY expires_at_ms LIMIT $2`, [cutoffMs, limit]);
    return rows.map((r) => r.id);
  }

  /** Retention: deletes those of these messages that have no deliveries left. */
  async deleteWithoutDeliveries(sql: Sql, messageIds: readonly string[]): Promise<number> {
    if (messageIds.length === 0) return 0;
    const rows = await sql(
      `DELETE FROM messages m WHERE m.id = ANY($1) AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id) RETURNING 1`,
      [messageIds],
    );
    return rows.length;
  }

  async find(sql: Sql, projectId: string, messageId: string): Promise<StoredMessage | undefined> {
    const [row] = await sql<StoredMessageRow>(`SELECT ${STORED_MESSAGE_COLUMNS} FROM messages WHERE project_id = $1 AND id = $2`, [projectId, messageId]);
    return row && toStoredMessage(row);
  }

  /** Up to `limit` messages of this project, newest first, after `after` and not before `sinceMs`. */
  async newestOf(sql: Sql, projectId: string, sinceMs: number, after: { acceptedAtMs: number; messageId: string } | null, limit: number): Promise<StoredMessage[]> {
    const rows = await sql<StoredMessageRow>(
      `SELECT ${STORED_MESSAGE_COLUMNS}
         FROM messages
        WHERE project_id = $1 AND accepted_at_ms >= $2 AND ($3::bigint IS NULL OR (accepted_at_ms, id) < ($3::bigint, $4::text))
        ORDER BY accepted_at_ms DESC, id DESC
        LIMIT $5`,
      [projectId, sinceMs, after?.acceptedAtMs ?? null, after?.messageId ?? '', limit],
    );
    return rows.map(toStoredMessage);
  }

  /**
   * Marks a stored message of this project cancelled, if it still has something to cancel (a
   * fan-out in progress or an open delivery). Returns whether the message is cancelled now,
   * by this call or an earlier one. The row lock it takes waits for a fan-out chunk being written
   * (`lockForFanOut`), so the chunk's deliveries are visible to the cancel that follows.
   */
  async markCancelled(sql: Sql, projectId: string, messageId: string, nowMs: number): Promise<boolean> {
    const [row] = await sql<{ cancelled: boolean }>(
      `WITH marked AS (
         UPDATE messages m SET cancelled_at_ms = $3
          WHERE m.project_id = $1 AND m.id = $2 AND m.outcome = 'stored' AND m.cancelled_at_ms IS NULL
            AND (EXISTS (SELECT 1 FROM fanout_jobs j WHERE j.message_id = m.id)
                 OR EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.id AND d.state IN ('pending', 'sent')))
          RETURNING 1
       )
       SELECT EXISTS (SELECT 1 FROM marked)
           OR EXISTS (SELECT 1 FROM messages WHERE project_id = $1 AND id = $2 AND cancelled_at_ms IS NOT NULL) AS cancelled`,
      [projectId, messageId, nowMs],
    );
    return row?.cancelled ?? false;
  }

  /**
   * A fan-out chunk's transaction starts here: it holds the message row (shared) until it commits,
   * so a concurrent cancel waits for the chunk and then cancels its deliveries too. True when the
   * message is cancelled and the fan-out must stop.
   */
  async lockForFanOut(sql: Sql, messageId: string): Promise<boolean> {
    const [row] = await sql<{ cancelled: boolean }>(`SELECT cancelled_at_ms IS NOT NULL AS cancelled FROM messages WHERE id = $1 FOR SHARE`, [messageId]);
    return row?.cancelled ?? true;
  }
}
