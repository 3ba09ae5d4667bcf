import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every transaction that changes a delivery's state bumps its project's counter row for the day
 * in the same transaction, so with one row per (project, day) all of them queued on that row's
 * lock, each holding it until its commit was flushed: the end-to-end benchmark showed most of
 * push-core's connections waiting on `Lock:transactionid` (docs/benchmarks.md, "End to end").
 * The counters are now split over a few rows per (project, day), one chosen per transaction;
 * readers add them up.
 */
export class ShardedDailyStats1767484800000 implements MigrationInterface {
  name = 'ShardedDailyStats1767484800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE project_daily_stats ADD COLUMN shard smallint NOT NULL DEFAULT 0`);
    await q.query(`ALTER TABLE project_daily_stats DROP CONSTRAINT project_daily_stats_pkey`);
    await q.query(`ALTER TABLE project_daily_stats ADD PRIMARY KEY (project_id, day, shard)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE project_daily_stats_merged AS
        SELECT project_id, day, sum(accepted)::bigint AS accepted, sum(delivered)::bigint AS delivered,
               sum(expired)::bigint AS expired, sum(failed)::bigint AS failed
          FROM project_daily_stats GROUP BY project_id, day`);
    await q.query(`DELETE FROM project_daily_stats`);
    await q.query(`ALTER TABLE project_daily_stats DROP CONSTRAINT project_daily_stats_pkey`);
    await q.query(`ALTER TABLE project_daily_stats DROP COLUMN shard`);
    await q.query(`ALTER TABLE project_daily_stats ADD PRIMARY KEY (project_id, day)`);
    await q.query(`INSERT INTO project_daily_stats SELECT * FROM project_daily_stats_merged`);
    await q.query(`DROP TABLE project_daily_stats_merged`);
  }
}
