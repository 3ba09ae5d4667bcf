import { DomainError, ErrorCode, STATS_MAX_DAYS, StatsQuery } from '@borealis/contracts';
import { problemsOf } from '../http/schema-problems';

/** Days covered when `from` is absent: the last 30, today included. */
export const STATS_DEFAULT_DAYS = 30;

const DAY_MS = 86_400_000;

/**
 * The `from` and `to` query parameters of `GET .../stats` by their schema (`StatsQuery`): UTC days
 * `YYYY-MM-DD`, both inclusive (an empty one is absent). `to` defaults to today, `from` to 29 days
 * before `to`; the range is at most 366 days, `from` not after `to`.
 */
export function parseStatsRange(from: unknown, to: unknown, nowMs: number): { from: string; to: string } {
  const parsed = StatsQuery.safeParse({ from: from === '' ? undefined : from, to: to === '' ? undefined : to });
  const fields = parsed.success ? {} : problemsOf(parsed.error);
  if (parsed.success) {
    const toMs = parsed.data.to !== undefined ? Date.parse(`${parsed.data.to}T00:00:00Z`) : Math.floor(nowMs / DAY_MS) * DAY_MS;
    const fromMs = parsed.data.from !== undefined ? Date.parse(`${parsed.data.from}T00:00:00Z`) : toMs - (STATS_DEFAULT_DAYS - 1) * DAY_MS;
    if (fromMs > toMs) fields['from'] = 'must not be after to';
    else if ((toMs - fromMs) / DAY_MS + 1 > STATS_MAX_DAYS) fields['from'] = `the range may cover at most ${STATS_MAX_DAYS} days`;
    else return { from: day(fromMs), to: day(toMs) };
  }
  throw new DomainError(ErrorCode.InvalidArgument, `invalid range: ${Object.entries(fields).map(([f, r]) => `${f} ${r}`).join('; ')}`, { fields });
}

function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
