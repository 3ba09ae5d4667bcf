import { Injectable } from '@nestjs/common';
import type { MessageAcceptedV1, Priority, TargetType } from '@borealis/contracts';
import type { MessageOutcome } from '../domain/message-status';
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

@Injectable()
export class MessageRepository {
  /** Inserts the messages not stored yet (keyed by message id); returns the ids it inserted. */
  async insertNew(sql: Sql, messages: readonly NewMessage[], nowMs: number): Promise<Set<string>> {
    if (messages.length === 0) return new Set();
    const column = <T>(pick: (m: NewMessage) => T) => messages.map(pick);
    const rows = await sql<{ id: string }>(
      `INSERT INTO messages (id, project_id, target_type, target_value, title, body, data, priority, collapse_key,
                             accepted_at_ms, expires_at_ms, outcome, failure_reason, ttl_seconds, send_at_ms, stored_at_ms)
       SELECT m.*, $16::bigint
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                     $10::bigint[], $11::bigint[], $12::text[], $13::text[], $14::bigint[], $15::bigint[]) AS m
       ON CONFLICT (id) DO NOTHING
       RETURNING id`,
      [
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
        nowMs,
      ],
    );
    return new Set(rows.map((r) => r.id));
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
