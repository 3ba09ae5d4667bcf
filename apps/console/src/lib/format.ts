/** Pure helpers for what the pages show: days, statistics, message states, audit filters, the settings file. */

export const STAT_SERIES = ['accepted', 'delivered', 'expired', 'failed', 'cancelled'] as const;
export type StatSeries = (typeof STAT_SERIES)[number];
export type StatDay = { date: string } & Record<StatSeries, number>;

export function utcDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export function addDays(day: string, days: number): string {
  return utcDay(new Date(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000));
}

/** The default range of the statistics page: the last `days` UTC days, today included. */
export function lastDays(now: Date, days: number): { from: string; to: string } {
  const to = utcDay(now);
  return { from: addDays(to, -(days - 1)), to };
}

export function totals(days: readonly StatDay[]): Record<StatSeries, number> {
  const sum = { accepted: 0, delivered: 0, expired: 0, failed: 0, cancelled: 0 };
  for (const day of days) for (const key of STAT_SERIES) sum[key] += day[key];
  return sum;
}

/** Whether a message's aggregate state can still change (the test send keeps polling while it can). */
export function isFinalMessageState(state: string): boolean {
  return state === 'delivered' || state === 'expired' || state === 'failed' || state === 'cancelled';
}

export function stateColor(state: string): string {
  switch (state) {
    case 'delivered':
      return 'green';
    case 'failed':
      return 'red';
    case 'expired':
    case 'cancelled':
      return 'gray';
    case 'sent':
      return 'blue';
    default:
      return 'orange';
  }
}

export interface AuditEntry {
  seq: string;
  at: string;
  actor: string;
  action: string;
  entityType: string;
  entityId: string;
  details: Record<string, unknown>;
}

export interface AuditFilter {
  action: string;
  actor: string;
  text: string;
}

/** The entries matching every filter that is set (`text` searches the entity and the details). */
export function filterAudit(entries: readonly AuditEntry[], filter: AuditFilter): AuditEntry[] {
  const text = filter.text.trim().toLowerCase();
  return entries.filter(
    (e) =>
      (!filter.action || e.action === filter.action) &&
      (!filter.actor || e.actor === filter.actor) &&
      (!text || `${e.entityType} ${e.entityId} ${JSON.stringify(e.details)}`.toLowerCase().includes(text)),
  );
}

export function distinct(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

/** A key's state for the keys table. */
export function keyState(key: { expiresAt: string | null; revokedAt: string | null }, now: Date): 'revoked' | 'expired' | 'expiring' | 'active' {
  if (key.revokedAt) return 'revoked';
  if (key.expiresAt && Date.parse(key.expiresAt) <= now.getTime()) return 'expired';
  if (key.expiresAt) return 'expiring';
  return 'active';
}

/**
 * The Aurora project settings file (push_notification_system.yaml) from the JSON the API answers.
 * Every value is written as a YAML double-quoted scalar, which is JSON string syntax: exact for any
 * text, the PEM's newlines included.
 */
export function settingsYaml(settings: Record<string, Record<string, string>>): string {
  const lines: string[] = [];
  for (const [root, fields] of Object.entries(settings)) {
    lines.push(`${root}:`);
    for (const [key, value] of Object.entries(fields)) lines.push(`  ${key}: ${JSON.stringify(value)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Milliseconds until a session ends (0 when past). */
export function msUntil(expiresAt: string, now: Date): number {
  const ms = Date.parse(expiresAt);
  return Number.isNaN(ms) ? 0 : Math.max(0, ms - now.getTime());
}

export function formatDuration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 1) return 'less than a minute';
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest ? `${hours} h ${rest} min` : `${hours} h`;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

/** A figure from /metrics for the operator view: integers grouped, fractions to 3 significant digits. */
export function formatFigure(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return Number(value.toPrecision(3)).toLocaleString('en-US', { maximumFractionDigits: 6 });
}

/** A key figure's name as the operator reads it: `deliveriesDelivered` → "Deliveries delivered". */
export function metricLabel(name: string): string {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[_.]+/g, ' ')
    .trim()
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}
