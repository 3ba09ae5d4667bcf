import { codePointLength, DomainError, ErrorCode, Limits, parseTtl, type Priority, type TargetType } from '@borealis/contracts';

/** A validated send request (the Aurora body plus Borealis' optional fields). */
export interface SendRequest {
  target: { type: TargetType; value: string };
  ttlSeconds: number;
  notification: { title: string; message: string; data: string | null };
  priority: Priority;
  collapseKey: string | null;
  /** A scheduled send's time (epoch ms), present only when it is still ahead. */
  sendAtMs?: number;
}

const FIELDS = new Set(['target', 'type', 'ttl', 'notification', 'priority', 'collapse_key', 'send_at']);
/** RFC 3339 date-time with a zone (Z or an offset), as `send_at` takes it. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const NOTIFICATION_FIELDS = new Set(['title', 'message', 'data']);
const TARGET_TYPES: ReadonlySet<string> = new Set<TargetType>(['device', 'application', 'topic']);
/**
 * What a target can be, for every type: topic names as FCM allows them (push-core applies the
 * same rule), and every id Borealis issues (`reg_`/`app_` and base64url). Anything else (blank,
 * spaces, control characters, slashes) can never match a recipient, so it is refused here rather
 * than accepted with 200 and failed later. The OpenAPI document states the same pattern.
 */
export const TARGET_PATTERN = `^[A-Za-z0-9_.~%-]{1,${Limits.targetMaxChars}}$`;
const TARGET = new RegExp(TARGET_PATTERN);
const TARGET_RULE = `1 to ${Limits.targetMaxChars} letters, digits or -_.~%`;
const TARGET_PROBLEM: Record<TargetType, string> = {
  device: `must be a registrationId: ${TARGET_RULE}`,
  application: `must be an applicationId: ${TARGET_RULE}`,
  topic: `must be a topic name: ${TARGET_RULE}`,
  registrations: `must be registrationIds: ${TARGET_RULE}`,
};
/** Deepest nesting of objects and arrays accepted in `data`. */
export const DATA_MAX_DEPTH = 32;

type JsonObject = Record<string, unknown>;

/**
 * Validates the body of `POST /projects/{project_id}/messages`. Every problem is reported at once,
 * keyed by field path, in an invalid_argument error. Lengths are in Unicode code points; `data`
 * is measured as the UTF-8 bytes of its JSON text, which is what travels to the device. `send_at`
 * is judged against `nowMs`: a time already past means at once; one at or beyond the TTL is refused
 * (the message would expire before it may go out).
 */
export function parseSendRequest(body: unknown, nowMs: number): SendRequest {
  if (!isObject(body)) throw invalid({ body: 'must be a JSON object' });
  const problems: Record<string, string> = {};
  for (const key of Object.keys(body)) if (!FIELDS.has(key)) problems[key] = 'is not a known field';

  const target = boundedString(body['target'], 'target', Limits.targetMaxChars, problems, { required: true, nonEmpty: true });
  const type = body['type'];
  if (type === undefined) problems['type'] = 'is required';
  else if (typeof type !== 'string' || !TARGET_TYPES.has(type)) problems['type'] = 'must be "device", "application" or "topic"';
  if (target !== undefined && !TARGET.test(target)) {
    problems['target'] = typeof type === 'string' && TARGET_TYPES.has(type) ? TARGET_PROBLEM[type as TargetType] : `must be a registrationId, applicationId or topic name: ${TARGET_RULE}`;
  }

  let ttlSeconds: number = Limits.ttlDefaultSeconds;
  const ttl = body['ttl'];
  if (ttl !== undefined) {
    try {
      if (typeof ttl !== 'string') throw new TypeError();
      ttlSeconds = parseTtl(ttl);
    } catch {
      problems['ttl'] = `must be a duration like "5h30m" (units h, m, s) of at most ${Limits.ttlMaxSeconds / 86400} days`;
    }
  }

  const notification = parseNotification(body['notification'], problems);

  const priority = body['priority'] ?? 'normal';
  if (priority !== 'high' && priority !== 'normal') problems['priority'] = 'must be "high" or "normal"';

  const collapseKey = boundedString(body['collapse_key'], 'collapse_key', Limits.collapseKeyMaxChars, problems, { required: false, nonEmpty: true });

  const sendAtMs = parseSendAt(body['send_at'], nowMs, problems['ttl'] === undefined ? ttlSeconds : null, problems);

  if (Object.keys(problems).length > 0) throw invalid(problems);
  return {
    target: { type: type as TargetType, value: target! },
    ttlSeconds,
    notification: notification!,
    priority: priority as Priority,
    collapseKey: collapseKey ?? null,
    ...(sendAtMs !== undefined ? { sendAtMs } : {}),
  };
}

/** `send_at`: the time (epoch ms) if it is still ahead; undefined when absent or past (at once). */
function parseSendAt(value: unknown, nowMs: number, ttlSeconds: number | null, problems: Record<string, string>): number | undefined {
  if (value === undefined) return undefined;
  const atMs = typeof value === 'string' && RFC3339.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(atMs)) {
    problems['send_at'] = 'must be an RFC 3339 date-time with a time zone, like "2027-01-31T09:00:00Z"';
    return undefined;
  }
  if (atMs <= nowMs) return undefined;
  if (ttlSeconds !== null && atMs >= nowMs + ttlSeconds * 1000) {
    problems['send_at'] = `must be less than the TTL (${ttlSeconds} s) ahead: the message would expire before it may go out`;
    return undefined;
  }
  return atMs;
}

function parseNotification(value: unknown, problems: Record<string, string>): SendRequest['notification'] | undefined {
  if (value === undefined) {
    problems['notification'] = 'is required';
    return undefined;
  }
  if (!isObject(value)) {
    problems['notification'] = 'must be a JSON object';
    return undefined;
  }
  for (const key of Object.keys(value)) if (!NOTIFICATION_FIELDS.has(key)) problems[`notification.${key}`] = 'is not a known field';
  // Aurora documents title, message and data as optional each: any one makes a push (data alone
  // is a silent push the app handles itself); none of them is nothing to deliver.
  const title = boundedString(value['title'], 'notification.title', Limits.titleMaxChars, problems, { required: false, nonEmpty: false });
  const message = boundedString(value['message'], 'notification.message', Limits.messageMaxChars, problems, { required: false, nonEmpty: false });
  let data: string | null = null;
  if (value['data'] !== undefined) {
    if (!isObject(value['data'])) problems['notification.data'] = 'must be a JSON object';
    else if (depthExceeds(value['data'], DATA_MAX_DEPTH)) problems['notification.data'] = `nests deeper than ${DATA_MAX_DEPTH} levels`;
    else {
      data = JSON.stringify(value['data']);
      const bytes = Buffer.byteLength(data, 'utf8');
      if (bytes > Limits.dataMaxBytes) problems['notification.data'] = `is ${bytes} bytes as JSON; the limit is ${Limits.dataMaxBytes}`;
    }
  }
  const fieldProblems = Object.keys(problems).some((k) => k.startsWith('notification.'));
  if (fieldProblems) return undefined;
  if (!title && !message && data === null) {
    problems['notification'] = 'needs at least one of title, message (not empty) or data';
    return undefined;
  }
  return { title: title ?? '', message: message ?? '', data };
}

function boundedString(
  value: unknown,
  field: string,
  maxChars: number,
  problems: Record<string, string>,
  rules: { required: boolean; nonEmpty: boolean },
): string | undefined {
  if (value === undefined) {
    if (rules.required) problems[field] = 'is required';
    return undefined;
  }
  if (typeof value !== 'string') problems[field] = 'must be a string';
  else if (rules.nonEmpty && value.length === 0) problems[field] = 'must not be empty';
  else {
    const chars = codePointLength(value);
    if (chars > maxChars) problems[field] = `is ${chars} characters; the limit is ${maxChars}`;
    else return value;
  }
  return undefined;
}

export function isValidTopicName(name: string): boolean {
  return TARGET.test(name);
}

/** Iterative, so that hostile nesting cannot exhaust the stack (JSON.stringify would). */
function depthExceeds(root: object, maxDepth: number): boolean {
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (depth > maxDepth) return true;
    for (const child of Object.values(value as object)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(fields: Record<string, string>): DomainError {
  const summary = Object.entries(fields)
    .map(([field, reason]) => `${field} ${reason}`)
    .join('; ');
  return new DomainError(ErrorCode.InvalidArgument, `invalid message: ${summary}`, { fields });
}
