import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { BackgroundLoop } from '../background-loop';
import { PushDb } from '../persistence/push-db';

/**
 * The tables whose planner statistics must follow their growth, not wait up to a minute for
 * autovacuum:
 * - a delivery is joined with `registrations` and `registry_applications` when a device-targeted
 *   message is stored: right after a burst of registrations (a new app's devices coming online)
 *   PostgreSQL still planned with the old row counts, and storing a batch of 70 messages took
 *   230 ms instead of 2 ms (docs/benchmarks.md, "End to end");
 * - `deliveries` and `messages` are read and updated by push-core's named prepared statements
 *   (push-db.ts), whose generic plan PostgreSQL makes once and keeps until the table's statistics
 *   change. Made while the table was small, it scans the whole table: on a fresh installation under
 *   load the receipts' UPDATE went from 1 ms to 6.4 ms a call within 20 s, 1,908 sequential scans
 *   reading 22.6 M rows (docs/benchmarks.md, "Cost per push"). Analyzing them as they grow makes
 *   PostgreSQL plan them again with their real size.
 */
const WATCHED = ['registrations', 'registry_applications', 'deliveries', 'messages'] as const;
const CHECK_EVERY_MS = 5000;

/** ANALYZE a watched table once this many rows changed since its last analysis (autovacuum's default rule, sooner). */
export function needsAnalyze(liveRows: number, changedSinceAnalyze: number): boolean {
  return changedSinceAnalyze > 50 + 0.1 * liveRows;
}

@Injectable()
export class PlannerStatistics implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('PushCorePlannerStatistics');
  private readonly loop = new BackgroundLoop('planner-statistics', () => this.check(), CHECK_EVERY_MS, this.logger);

  constructor(private readonly db: PushDb) {}

  onApplicationBootstrap(): void {
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop.stop();
  }

  /** Analyzes the watched tables that changed enough; returns false (nothing more to do now). */
  async check(): Promise<boolean> {
    const rows = await this.db.sql<{ relname: string; live: string; changed: string }>(
      `SELECT relname, n_live_tup AS live, n_mod_since_analyze AS changed FROM pg_stat_user_tables WHERE relname = ANY($1)`,
      [WATCHED],
    );
    for (const row of rows) {
      const table = WATCHED.find((t) => t === row.relname);
      if (!table || !needsAnalyze(Number(row.live), Number(row.changed))) continue;
      await this.db.sql(`ANALYZE ${table}`);
      this.logger.debug?.({ msg: 'analyzed', table: row.relname, changedRows: Number(row.changed) });
    }
    return false;
  }
}
