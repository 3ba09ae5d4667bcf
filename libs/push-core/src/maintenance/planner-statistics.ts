import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { BackgroundLoop } from '../background-loop';
import { PushDb } from '../persistence/push-db';

/**
 * The tables a delivery is joined with when a device-targeted message is stored. Their planner
 * statistics must follow their growth: right after a burst of registrations (a new app's devices
 * coming online) PostgreSQL still planned with the old row counts, and storing a batch of 70
 * messages took 230 ms instead of 2 ms (docs/benchmarks.md, "End to end"), until autovacuum
 * analyzed them up to a minute later.
 */
const WATCHED = ['registrations', 'registry_applications'] as const;
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
