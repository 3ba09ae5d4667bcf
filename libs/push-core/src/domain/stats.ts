/** The per-project daily counters (ProjectStatsV1). */
export type StatCounter = 'accepted' | 'delivered' | 'expired' | 'failed' | 'cancelled';

export interface StatIncrement {
  projectId: string;
  counter: StatCounter;
  atMs: number;
  n?: number;
}

/** UTC day `YYYY-MM-DD` of a time. */
export function utcDay(atMs: number): string {
  return new Date(atMs).toISOString().slice(0, 10);
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** A valid `YYYY-MM-DD` calendar date. */
export function isUtcDay(text: string): boolean {
  return DAY.test(text) && utcDay(Date.parse(`${text}T00:00:00Z`)) === text;
}

/** Every day from `from` to `to`, both included. */
export function daysBetween(from: string, to: string): string[] {
  const days: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`), end = Date.parse(`${to}T00:00:00Z`); t <= end; t += 86_400_000) days.push(utcDay(t));
  return days;
}
