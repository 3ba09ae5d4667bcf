import { Injectable } from '@nestjs/common';
import type { Sql } from './push-db';

/**
 * Group fan-outs in progress. A job is worked by one push-core instance at a time: it holds a
 * session-level advisory lock on the job, which PostgreSQL releases when that instance's
 * connection dies, so a crashed instance's job is taken over at once, from its cursor.
 */
@Injectable()
export class FanOutJobRepository {
  /** A job per message; one with `notBeforeMs` (a scheduled send) is not worked before then. */
  async create(sql: Sql, jobs: readonly { messageId: string; notBeforeMs: number | null }[], nowMs: number): Promise<void> {
    if (jobs.length === 0) return;
    await sql(`INSERT INTO fanout_jobs (message_id, not_before_ms, created_at_ms) SELECT m.*, $3 FROM unnest($1::text[], $2::bigint[]) AS m ON CONFLICT DO NOTHING`, [
      jobs.map((j) => j.messageId),
      jobs.map((j) => j.notBeforeMs),
      nowMs,
    ]);
  }

  /** The oldest jobs that are due first (acceptance order across messages). */
  async oldest(sql: Sql, limit: number, nowMs: number): Promise<{ messageId: string; cursor: string }[]> {
    const rows = await sql<{ message_id: string; cursor: string }>(
      `SELECT message_id, cursor FROM fanout_jobs WHERE not_before_ms IS NULL OR not_before_ms <= $2 ORDER BY created_at_ms, message_id LIMIT $1`,
      [limit, nowMs],
    );
    return rows.map((r) => ({ messageId: r.message_id, cursor: r.cursor }));
  }

  /** Scheduled jobs whose time has come lose their hold; returns how many (the fan-out then takes them). */
  async releaseDue(sql: Sql, nowMs: number): Promise<number> {
    const rows = await sql<{ message_id: string }>(`UPDATE fanout_jobs SET not_before_ms = NULL WHERE not_before_ms <= $1 RETURNING message_id`, [nowMs]);
    return rows.length;
  }

  /** Call on the session that works the job; true when this session now owns it. */
  async tryLock(session: Sql, messageId: string): Promise<boolean> {
    const [row] = await session<{ locked: boolean }>(`SELECT pg_try_advisory_lock(hashtextextended('fanout:' || $1, 0)) AS locked`, [messageId]);
    return row!.locked;
  }

  async unlock(session: Sql, messageId: string): Promise<void> {
    await session(`SELECT pg_advisory_unlock(hashtextextended('fanout:' || $1, 0))`, [messageId]);
  }

  /** The cursor as stored now (another instance may have advanced it before this one got the lock). */
  async cursor(sql: Sql, messageId: string): Promise<string | undefined> {
    const [row] = await sql<{ cursor: string }>(`SELECT cursor FROM fanout_jobs WHERE message_id = $1`, [messageId]);
    return row?.cursor;
  }

  async advance(sql: Sql, messageId: string, cursor: string): Promise<void> {
    await sql(`UPDATE fanout_jobs SET cursor = $2 WHERE message_id = $1`, [messageId, cursor]);
  }

  async finish(sql: Sql, messageId: string): Promise<void> {
    await sql(`DELETE FROM fanout_jobs WHERE message_id = $1`, [messageId]);
  }
}
