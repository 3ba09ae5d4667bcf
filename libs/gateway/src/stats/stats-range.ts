import { DomainError, ErrorCode } from '@borealis/contracts';

/** Longest range of days one stats request may cover. */
export const STATS_MAX_DAYS = 366;
/** Days covered when `from` is absent: the last 30, today included. */
export const STATS_DEFAULT_DAYS = 30;

const DAY_MS = 86_400_000;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * The `from` and `to` query parameters of `GET .../stats`: UTC days `YYYY-MM-DD`, both inclusive.
 * `to` defaults to today, `from` to 29 days before `to`.
 */
export function parseStatsRange(from: unknown, to: unknown, nowMs: number): { from: string; to: string } {
  const fields: Record<string, string> = {};
  const toMs = parseDay(to, 'to', fields) ?? Math.floor(nowMs / DAY_MS) * DAY_MS;
  const fromMs = parseDay(from, 'from', fields) ?? toMs - (STATS_DEFAULT_DAYS - 1) * DAY_MS;
  if (Object.keys(fields).length === 0) {
    if (fromMs > toMs) fields['from'] = 'must not be after to';
    else if ((toMs - fromMs) / DAY_MS + 1 > STATS_MAX_DAYS) fields['from'] = `the range may cover at most ${STATS_MAX_DAYS} days`;
  }
  if (Object.keys(fields).length > 0) {
    throw new DomainError(ErrorCode.InvalidArgument, `invalid range: ${Object.entries(fields).map(([f, r]) => `${f} ${r}`).join('; ')}`, { fields });
  }
  return { from: day(fromMs), to: day(toMs) };
}

function parseDay(value: unknown, field: string, fields: Record<string, string>): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !DATE.test(value)) {
    fields[field] = 'must be a UTC day YYYY-MM-DD';
    return undefined;
  }
  const ms = Date.parse(`${value}T00:00:00Z`);
  // Date.parse rolls 2026-02-30 over to March: compare back to refuse it.
  if (Number.isNaN(ms) || day(ms) !== value) {
    fields[field] = 'is not a calendar day';
    return undefined;
  }
  return ms;
}

function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
