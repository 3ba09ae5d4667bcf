import { Injectable } from '@nestjs/common';
import { DomainError, ErrorCode, type ProjectStatsV1 } from '@borealis/contracts';
import { daysBetween, isUtcDay } from '../domain/stats';
import { PushDb } from '../persistence/push-db';
import { StatsRepository } from '../persistence/stats.repository';

/** Days one query may span. */
export const MAX_STATS_DAYS = 366;

/**
 * Per-project daily counters (UTC days): `accepted` counts messages push-core took in; `delivered`,
 * `expired`, `failed` and `cancelled` count recipients whose delivery reached that state that day, plus messages
 * that failed or expired as a whole (no recipient). Days without activity are listed with zeros.
 */
@Injectable()
export class ProjectStatsQuery {
  constructor(
    private readonly db: PushDb,
    private readonly stats: StatsRepository,
  ) {}

  async getStats(projectId: string, fromDate: string, toDate: string): Promise<ProjectStatsV1> {
    if (!isUtcDay(fromDate) || !isUtcDay(toDate)) throw new DomainError(ErrorCode.InvalidArgument, 'from and to must be dates as YYYY-MM-DD');
    if (fromDate > toDate) throw new DomainError(ErrorCode.InvalidArgument, 'from must not be after to');
    const days = daysBetween(fromDate, toDate);
    if (days.length > MAX_STATS_DAYS) throw new DomainError(ErrorCode.InvalidArgument, `at most ${MAX_STATS_DAYS} days per query`);
    const stored = new Map((await this.stats.days(this.db.sql, projectId, fromDate, toDate)).map((d) => [d.date, d]));
    return {
      projectId,
      from: fromDate,
      to: toDate,
      days: days.map((date) => stored.get(date) ?? { date, accepted: 0, delivered: 0, expired: 0, failed: 0, cancelled: 0 }),
    };
  }
}
