/**
 * What the console checks before sending, so a form says what is wrong without a round trip. The
 * rules are the API's (docs/api.md, docs/auth.md); the server stays the judge and its problem
 * details are shown when it refuses anyway.
 */

export type FieldErrors = Record<string, string>;

export const LIMITS = {
  nameMaxChars: 256,
  passwordMinChars: 12,
  passwordMaxChars: 256,
  emailMaxChars: 254,
  titleMaxChars: 512,
  messageMaxChars: 2048,
  dataMaxBytes: 4096,
  dataMaxDepth: 32,
  ttlMaxSeconds: 28 * 24 * 3600,
  targetMaxChars: 256,
  statsMaxDays: 366,
} as const;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const TTL = /^(?=\d)(?:(\d{1,6})h)?(?:(\d{1,6})m)?(?:(\d{1,8})s)?$/;
const TARGET = /^[A-Za-z0-9_.~%-]+$/;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

export const codePoints = (s: string): number => Array.from(s).length;

export function checkEmail(email: string): string | null {
  const v = email.trim();
  if (!v) return 'Enter an e-mail address.';
  if (v.length > LIMITS.emailMaxChars || !EMAIL.test(v)) return 'Enter a valid e-mail address, like dev@example.com.';
  return null;
}

export function checkNewPassword(password: string): string | null {
  if (password.length < LIMITS.passwordMinChars) return `At least ${LIMITS.passwordMinChars} characters.`;
  if (password.length > LIMITS.passwordMaxChars) return `At most ${LIMITS.passwordMaxChars} characters.`;
  return null;
}

export function checkName(name: string, what = 'a name'): string | null {
  const v = name.trim();
  if (!v) return `Enter ${what}.`;
  if (v.length > LIMITS.nameMaxChars) return `At most ${LIMITS.nameMaxChars} characters.`;
  return null;
}

/** Seconds of a TTL such as `5h30m`, or null when the API would refuse it. */
export function ttlSeconds(ttl: string): number | null {
  const m = TTL.exec(ttl);
  if (!m) return null;
  const seconds = Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
  return seconds <= LIMITS.ttlMaxSeconds ? seconds : null;
}

export function checkTtl(ttl: string): string | null {
  if (ttl.trim() === '') return null; // the API's default: 28 days
  return ttlSeconds(ttl.trim()) === null ? 'A duration like 5h30m, 90s or 1h (units h, m, s), at most 28 days.' : null;
}

export function checkTarget(target: string): string | null {
  const v = target.trim();
  if (!v) return 'Enter the target.';
  if (v.length > LIMITS.targetMaxChars || !TARGET.test(v)) return `1 to ${LIMITS.targetMaxChars} letters, digits or - _ . ~ %.`;
  return null;
}

function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Array.isArray(value) ? value : Object.values(value as Record<string, unknown>);
  return 1 + children.reduce<number>((max, child) => Math.max(max, depthOf(child)), 0);
}

/** The notification's `data` as typed in the JSON editor: empty (no data), or a JSON object within the limits. */
export function parseData(text: string): { ok: true; value: Record<string, unknown> | undefined } | { ok: false; error: string } {
  if (text.trim() === '') return { ok: true, value: undefined };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: `Not valid JSON: ${(error as Error).message}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, error: 'Must be a JSON object, like {"order": 42}.' };
  const bytes = new TextEncoder().encode(JSON.stringify(value)).length;
  if (bytes > LIMITS.dataMaxBytes) return { ok: false, error: `At most ${LIMITS.dataMaxBytes} bytes as JSON (this is ${bytes}).` };
  if (depthOf(value) > LIMITS.dataMaxDepth) return { ok: false, error: `At most ${LIMITS.dataMaxDepth} levels of nesting.` };
  return { ok: true, value: value as Record<string, unknown> };
}

export type TargetType = 'device' | 'application' | 'topic';

export interface SendForm {
  type: TargetType;
  target: string;
  title: string;
  message: string;
  data: string;
  ttl: string;
}

export interface SendBody {
  target: string;
  type: TargetType;
  ttl?: string;
  notification: { title?: string; message?: string; data?: Record<string, unknown> };
}

/** The push API's send body from the test-send form, or the problems of each field. */
export function buildSendBody(form: SendForm): { ok: true; body: SendBody } | { ok: false; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const target = checkTarget(form.target);
  if (target) errors['target'] = target;
  const ttl = checkTtl(form.ttl);
  if (ttl) errors['ttl'] = ttl;
  if (codePoints(form.title) > LIMITS.titleMaxChars) errors['title'] = `At most ${LIMITS.titleMaxChars} characters.`;
  if (codePoints(form.message) > LIMITS.messageMaxChars) errors['message'] = `At most ${LIMITS.messageMaxChars} characters.`;
  const data = parseData(form.data);
  if (!data.ok) errors['data'] = data.error;
  if (!errors['title'] && !errors['message'] && !errors['data'] && form.title === '' && form.message === '' && data.ok && data.value === undefined) {
    errors['title'] = 'A notification needs a title, a message or data.';
  }
  if (Object.keys(errors).length > 0 || !data.ok) return { ok: false, errors };
  const notification: SendBody['notification'] = {};
  if (form.title !== '') notification.title = form.title;
  if (form.message !== '') notification.message = form.message;
  if (data.value !== undefined) notification.data = data.value;
  const body: SendBody = { target: form.target.trim(), type: form.type, notification };
  if (form.ttl.trim() !== '') body.ttl = form.ttl.trim();
  return { ok: true, body };
}

/** A UTC day `YYYY-MM-DD` that exists in the calendar. */
export function isDay(day: string): boolean {
  if (!DAY.test(day)) return false;
  const ms = Date.parse(`${day}T00:00:00Z`);
  return !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 10) === day;
}

export function checkDayRange(from: string, to: string): FieldErrors {
  const errors: FieldErrors = {};
  if (!isDay(from)) errors['from'] = 'A day YYYY-MM-DD.';
  if (!isDay(to)) errors['to'] = 'A day YYYY-MM-DD.';
  if (Object.keys(errors).length > 0) return errors;
  const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000 + 1;
  if (days < 1) errors['from'] = 'The first day must not be after the last.';
  else if (days > LIMITS.statsMaxDays) errors['from'] = `At most ${LIMITS.statsMaxDays} days.`;
  return errors;
}

/** An expiry typed into a datetime-local field (local time) as an RFC 3339 instant, or the problem. */
export function parseExpiry(local: string, now: Date): { ok: true; value: string } | { ok: false; error: string } {
  if (!local) return { ok: false, error: 'Choose a date and time.' };
  const ms = Date.parse(local);
  if (Number.isNaN(ms)) return { ok: false, error: 'Not a date and time.' };
  if (ms <= now.getTime()) return { ok: false, error: 'Must be in the future.' };
  return { ok: true, value: new Date(ms).toISOString() };
}
