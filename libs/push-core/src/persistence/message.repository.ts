import { Injectable } from '@nestjs/common';
import type { MessageAcceptedV1, TargetType } from '@borealis/contracts';
import type { MessageOutcome } from '../domain/message-status';
import type { Sql } from './push-db';

export interface NewMessage {
  message: MessageAcceptedV1;
  outcome: MessageOutcome;
  failureReason: string | null;
}

export interface StoredMessage {
  id: string;
  projectId: string;
  targetType: TargetType;
  targetValue: string;
  acceptedAtMs: number;
  expiresAtMs: number;
  outcome: MessageOutcome;
}

@Injectable()
export class MessageRepository {
  /** Inserts the messages not stored yet (keyed by message id); returns the ids it inserted. */
  async insertNew(sql: Sql, messages: readonly NewMessage[], nowMs: number): Promise<Set<string>> {
    if (messages.length === 0) return new Set();
    const column = <T>(pick: (m: NewMessage) => T) => messages.map(pick);
    const rows = await sql<{ id: string }>(
      `INSERT INTO messages (id, project_id, target_type, target_value, title, body, data, priority, collapse_key,
                             accepted_at_ms, expires_at_ms, outcome, failure_reason, stored_at_ms)
       SELECT m.*, $14::bigint
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                     $10::bigint[], $11::bigint[], $12::text[], $13::text[]) AS m
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
        column((m) => m.message.expiresAtMs),
        column((m) => m.outcome),
        column((m) => m.failureReason),
        nowMs,
      ],
    );
    return new Set(rows.map((r) => r.id));
  }

  async markFailed(sql: Sql, messageIds: readonly string[], reason: string): Promise<void> {
    if (messageIds.length === 0) return;
    await sql(`UPDATE messages SET outcome = 'failed', failure_reason = $2 WHERE id = ANY($1)`, [messageIds, reason]);
  }

  async find(sql: Sql, projectId: string, messageId: string): Promise<StoredMessage | undefined> {
    const [row] = await sql<{
      id: string;
      project_id: string;
      target_type: TargetType;
      target_value: string;
      accepted_at_ms: string;
      expires_at_ms: string;
      outcome: MessageOutcome;
    }>(
      `SELECT id, project_id, target_type, target_value, accepted_at_ms, expires_at_ms, outcome
         FROM messages WHERE project_id = $1 AND id = $2`,
      [projectId, messageId],
    );
    return (
      row && {
        id: row.id,
        projectId: row.project_id,
        targetType: row.target_type,
        targetValue: row.target_value,
        acceptedAtMs: Number(row.accepted_at_ms),
        expiresAtMs: Number(row.expires_at_ms),
        outcome: row.outcome,
      }
    );
  }
}
