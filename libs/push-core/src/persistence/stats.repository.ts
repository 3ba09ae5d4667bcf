import { Injectable, Optional } from '@nestjs/common';
import { Metrics } from '@borealis/platform';
import { utcDay, type StatCounter, type StatIncrement } from '../domain/stats';
import type { Sql, Statement } from './push-db';

export interface DayCounts {
  date: string;
  accepted: number;
  delivered: number;
  expired: number;
  failed: number;
  cancelled: number;
}

const COUNTERS: readonly StatCounter[] = ['accepted', 'delivered', 'expired', 'failed', 'cancelled'];
/**
 * Rows per (project, day). One row would serialize every transaction that counts something on its
 * lock until that transaction commits; each transaction bumps one shard, readers add them up.
 */
export const STAT_SHARDS = 16;

/**
 * Per-project daily counters. Callers bump them in the transaction that changes the state they
 * count, from the rows that statement actually changed, so a redelivered event counts nothing.
 */
@Injectable()
export class StatsRepository {
  /** The shard of each open transaction: one per transaction, so two bumps in it cannot deadlock with another's. */
  private readonly shards = new WeakMap<Sql, number>();

  constructor(@Optional() private readonly metrics?: Metrics) {}

  /** Outside a transaction each statement commits alone, so each gets a shard of its own. */
  private shardOf(sql: Sql): number {
    let shard = this.shards.get(sql);
    if (shard === undefined) {
      shard = Math.floor(Math.random() * STAT_SHARDS);
      if (sql.inTransaction) this.shards.set(sql, shard);
    }
    return shard;
  }

  /**
   * Runs a statement that changes rows and counts each row it returned (it must return
   * `project_id`) as `counter` on the day of `atMs`, in the same statement: atomic on its own, so
   * a caller with nothing else to do needs no transaction (two round trips fewer, and one fewer for
   * the bump). The change's parameters come first; the counting adds two after them.
   */
  async countChanged<T extends { project_id: string }>(sql: Sql, change: Statement, counter: StatCounter, atMs: number): Promise<T[]> {
    const day = `$${change.params.length + 1}::date`;
    const shard = `$${change.params.length + 2}::smallint`;
    const rows = await sql<T>(
      `WITH changed AS (${change.text}),
       counted AS (
         INSERT INTO project_daily_stats AS s (project_id, day, ${COUNTERS.join(', ')}, shard)
         SELECT project_id, ${day}, ${COUNTERS.map((c) => (c === counter ? 'count(*)' : '0')).join(', ')}, ${shard}
           FROM changed GROUP BY project_id ORDER BY project_id
         ON CONFLICT (project_id, day, shard) DO UPDATE SET ${counter} = s.${counter} + EXCLUDED.${counter}
       )
       SELECT * FROM changed`,
      [...change.params, utcDay(atMs), this.shardOf(sql)],
    );
    this.countInMetrics(sql, perRow(rows, counter, atMs));
    return rows;
  }

  /**
   * Runs a statement whose WITH list ends with a CTE `counts` (columns `project_id`, `day` and one
   * per counter in `counters`, at most one row per project and day) and adds those rows to the
   * counters in the same statement, in order, as `bump` does: atomic on its own, so the caller
   * needs no transaction. `ctes` is the WITH list without the WITH, `select` the final query; the
   * shard is one parameter after `params`. The caller reports what it counted with `observe`.
   */
  async withCounts<T>(sql: Sql, statement: { ctes: string; select: string; params: readonly unknown[] }, counters: readonly StatCounter[]): Promise<T[]> {
    const shard = `$${statement.params.length + 1}::smallint`;
    return sql<T>(
      `WITH ${statement.ctes},
       counted AS (
         INSERT INTO project_daily_stats AS s (project_id, day, ${COUNTERS.join(', ')}, shard)
         SELECT project_id, day, ${COUNTERS.map((c) => (counters.includes(c) ? c : '0')).join(', ')}, ${shard}
           FROM counts ORDER BY project_id, day
         ON CONFLICT (project_id, day, shard) DO UPDATE SET ${counters.map((c) => `${c} = s.${c} + EXCLUDED.${c}`).join(', ')}
       )
       ${statement.select}`,
      [...statement.params, this.shardOf(sql)],
    );
  }

  /** Reports increments counted by a `withCounts` statement to the metrics, once it committed. */
  observe(sql: Sql, increments: readonly StatIncrement[]): void {
    this.countInMetrics(sql, increments);
  }

  async bump(sql: Sql, increments: readonly StatIncrement[]): Promise<void> {
    this.countInMetrics(sql, increments);
    const rows = new Map<string, { projectId: string; day: string; counts: Record<StatCounter, number> }>();
    for (const { projectId, counter, atMs, n = 1 } of increments) {
      if (n === 0) continue;
      const day = utcDay(atMs);
      const key = `${projectId}\n${day}`;
      let row = rows.get(key);
      if (!row) rows.set(key, (row = { projectId, day, counts: { accepted: 0, delivered: 0, expired: 0, failed: 0, cancelled: 0 } }));
      row.counts[counter] += n;
    }
    if (rows.size === 0) return;
    // Sorted, so that concurrent transactions lock the counter rows in the same order.
    const sorted = [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
    await sql(
      `INSERT INTO project_daily_stats AS s (project_id, day, accepted, delivered, expired, failed, cancelled, shard)
       SELECT *, $8::smallint FROM unnest($1::text[], $2::date[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[])
       ON CONFLICT (project_id, day, shard) DO UPDATE SET
         accepted = s.accepted + EXCLUDED.accepted, delivered = s.delivered + EXCLUDED.delivered,
         expired = s.expired + EXCLUDED.expired, failed = s.failed + EXCLUDED.failed, cancelled = s.cancelled + EXCLUDED.cancelled`,
      [sorted.map((r) => r.projectId), sorted.map((r) => r.day), ...COUNTERS.map((c) => sorted.map((r) => r.counts[c])), this.shardOf(sql)],
    );
  }

  /** The same state changes as Prometheus counters, once the transaction that made them committed. */
  private countInMetrics(sql: Sql, increments: readonly StatIncrement[]): void {
    const metrics = this.metrics;
    if (!metrics) return;
    const byState = new Map<StatCounter, number>();
    for (const { counter, n = 1 } of increments) if (counter !== 'accepted' && n > 0) byState.set(counter, (byState.get(counter) ?? 0) + n);
    if (byState.size === 0) return;
    sql.afterCommit(() => {
      for (const [state, n] of byState) metrics.deliveries.inc({ state }, n);
    });
  }

  async days(sql: Sql, projectId: string, from: string, to: string): Promise<DayCounts[]> {
    const rows = await sql<{ day: string; accepted: string; delivered: string; expired: string; failed: string; cancelled: string }>(
      `SELECT to_char(day, 'YYYY-MM-DD') AS day, sum(accepted) AS accepted, sum(delivered) AS delivered, sum(expired) AS expired, sum(failed) AS failed,
              sum(cancelled) AS cancelled
         FROM project_daily_stats WHERE project_id = $1 AND day BETWEEN $2::date AND $3::date GROUP BY day ORDER BY day`,
      [projectId, from, to],
    );
    return rows.map((r) => ({ date: r.day, accepted: Number(r.accepted), delivered: Number(r.delivered), expired: Number(r.expired), failed: Number(r.failed), cancelled: Number(r.cancelled) }));
  }
}

/** One increment per changed row, for rows that carry their project. */
export function perRow(rows: readonly { project_id: string }[], counter: StatCounter, atMs: number): StatIncrement[] {
  return rows.map((r) => ({ projectId: r.project_id, counter, atMs }));
}
