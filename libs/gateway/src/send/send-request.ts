import {
  DATA_MAX_DEPTH,
  DomainError,
  ErrorCode,
  isTtl,
  Limits,
  MulticastRequest,
  parseTtl,
  SendMessageRequest,
  SendTargetType,
  TARGET_PATTERN,
  TARGET_PROBLEM,
  TARGET_PROBLEM_OF_TYPE,
  type Priority,
  type PushNotification,
  type TargetType,
} from '@borealis/contracts';
import { problemsOf } from '../http/schema-problems';

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

/** A validated multicast: its recipients as listed, and the rest of a send. */
export interface MulticastSendRequest {
  registrationIds: string[];
  request: Omit<SendRequest, 'target'>;
}

type Problems = Record<string, string>;
type JsonObject = Record<string, unknown>;

const TARGET = new RegExp(TARGET_PATTERN);

/**
 * Validates the body of `POST /projects/{project_id}/messages` with its schema (`SendMessageRequest`
 * in libs/contracts, which the OpenAPI document is generated from), then the rules a schema cannot
 * state. Every problem is reported at once, keyed by field path, in an invalid_argument error.
 * `send_at` is judged against `nowMs`: a time already past means at once; one at or beyond the TTL
 * is refused (the message would expire before it may go out).
 */
export function parseSendRequest(body: unknown, nowMs: number): SendRequest {
  const parsed = isPlainSend(body) ? { success: true as const, data: body } : SendMessageRequest.safeParse(body);
  if (parsed.success) {
    const problems: Problems = {};
    const rest = sendFields(parsed.data, problems, nowMs);
    if (rest) return { target: { type: parsed.data.type, value: parsed.data.target }, ...rest };
    throw invalid('message', problems);
  }
  const problems = problemsOf(parsed.error);
  if (problems['target'] === TARGET_PROBLEM && isObject(body)) {
    // The target rule in the words of its type, when the type is one.
    const type = SendTargetType.safeParse(body['type']);
    if (type.success) problems['target'] = TARGET_PROBLEM_OF_TYPE[type.data];
  }
  if (isObject(body)) sendFields(body, problems, nowMs);
  throw invalid('message', problems);
}

/**
 * Validates the body of `POST /projects/{project_id}/messages/multicast` (`MulticastRequest`): the
 * send fields without `target` and `type`, the recipients in `registration_ids`. Each listed id is
 * judged later, on its own (a malformed one is that recipient's rejection, not a 400).
 */
export function parseMulticastRequest(body: unknown, nowMs: number): MulticastSendRequest {
  const parsed = MulticastRequest.safeParse(body);
  if (parsed.success) {
    const problems: Problems = {};
    const request = sendFields(parsed.data, problems, nowMs);
    if (request) return { registrationIds: parsed.data.registration_ids, request };
    throw invalid('multicast', problems);
  }
  const problems = problemsOf(parsed.error);
  for (const field of ['target', 'type']) {
    if (problems[field] === UNKNOWN_FIELD) problems[field] = 'is not a field of a multicast: name the recipients in registration_ids';
  }
  if (isObject(body)) sendFields(body, problems, nowMs);
  throw invalid('multicast', problems);
}

/**
 * The usual send body, judged without the schema: true only for a body the schema surely accepts as
 * it is (its own fields only, each of a plain kind within its limits; a string's UTF-16 length is
 * never less than its code points, so one within the limit in units is within it in code points).
 * Anything else or in doubt (`send_at`, an unknown field, a string over the limit in units) is the
 * schema's to judge and word. The schema's parse cost about 3 µs a request, 3 % of the gateway's
 * CPU (docs/benchmarks.md); send-request.spec.ts checks that this never says yes where it says no.
 */
export function isPlainSend(body: unknown): body is SendMessageRequest {
  if (!isObject(body)) return false;
  // The required fields, counted as they are seen.
  let required = 0;
  for (const key of Object.keys(body)) {
    const value = body[key];
    switch (key) {
      case 'target':
        if (typeof value !== 'string' || !TARGET.test(value)) return false;
        required++;
        break;
      case 'type':
        if (value !== 'device' && value !== 'application' && value !== 'topic') return false;
        required++;
        break;
      case 'ttl':
        if (typeof value !== 'string' || !isTtl(value)) return false;
        break;
      case 'notification':
        if (!isPlainNotification(value)) return false;
        required++;
        break;
      case 'priority':
        if (value !== 'high' && value !== 'normal') return false;
        break;
      case 'collapse_key':
        if (typeof value !== 'string' || value.length === 0 || value.length > Limits.collapseKeyMaxChars) return false;
        break;
      default:
        return false;
    }
  }
  return required === 3;
}

function isPlainNotification(value: unknown): boolean {
  if (!isObject(value)) return false;
  for (const key of Object.keys(value)) {
    const field = value[key];
    switch (key) {
      case 'title':
        if (typeof field !== 'string' || field.length > Limits.titleMaxChars) return false;
        break;
      case 'message':
        if (typeof field !== 'string' || field.length > Limits.messageMaxChars) return false;
        break;
      case 'data':
        if (!isObject(field)) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** A topic name, or an id Borealis issued: the target rule (the OpenAPI document states the pattern). */
export function isValidTopicName(name: string): boolean {
  return TARGET.test(name);
}

/**
 * The rules of a send body beyond its schema: the TTL in seconds, at least one of title, message
 * or data, `data`'s nesting and size as JSON text, `send_at` ahead and within the TTL. Each is
 * judged only on fields the schema passed (`problems` has none for them), so every value read
 * here is of its schema's type. Undefined when it added a problem (or there were some already).
 */
function sendFields(body: JsonObject, problems: Problems, nowMs: number): Omit<SendRequest, 'target'> | undefined {
  const ttlOk = problems['ttl'] === undefined;
  const ttlSeconds = ttlOk && body['ttl'] !== undefined ? parseTtl(body['ttl'] as string) : Limits.ttlDefaultSeconds;
  const notification = notificationOf(body['notification'], problems);
  const sendAtMs = problems['send_at'] === undefined ? sendAtOf(body['send_at'] as string | undefined, nowMs, ttlOk ? ttlSeconds : null, problems) : undefined;
  if (!notification || Object.keys(problems).length > 0) return undefined;
  return {
    ttlSeconds,
    notification,
    priority: (body['priority'] as Priority | undefined) ?? 'normal',
    collapseKey: (body['collapse_key'] as string | undefined) ?? null,
    ...(sendAtMs !== undefined ? { sendAtMs } : {}),
  };
}

function notificationOf(value: unknown, problems: Problems): SendRequest['notification'] | undefined {
  if (Object.keys(problems).some((k) => k === 'notification' || k.startsWith('notification.'))) return undefined;
  const { title, message, data } = value as PushNotification;
  let text: string | null = null;
  if (data !== undefined) {
    if (depthExceeds(data, DATA_MAX_DEPTH)) {
      problems['notification.data'] = `nests deeper than ${DATA_MAX_DEPTH} levels`;
      return undefined;
    }
    text = JSON.stringify(data);
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > Limits.dataMaxBytes) {
      problems['notification.data'] = `is ${bytes} bytes as JSON; the limit is ${Limits.dataMaxBytes}`;
      return undefined;
    }
  }
  // Aurora documents title, message and data as optional each: any one makes a push (data alone
  // is a silent push the app handles itself); none of them is nothing to deliver.
  if (!title && !message && text === null) {
    problems['notification'] = 'needs at least one of title, message (not empty) or data';
    return undefined;
  }
  return { title: title ?? '', message: message ?? '', data: text };
}

/** `send_at` (the schema checked its form): the time (epoch ms) if it is still ahead; undefined when absent or past (at once). */
function sendAtOf(value: string | undefined, nowMs: number, ttlSeconds: number | null, problems: Problems): number | undefined {
  if (value === undefined) return undefined;
  const atMs = Date.parse(value);
  if (atMs <= nowMs) return undefined;
  if (ttlSeconds !== null && atMs >= nowMs + ttlSeconds * 1000) {
    problems['send_at'] = `must be less than the TTL (${ttlSeconds} s) ahead: the message would expire before it may go out`;
    return undefined;
  }
  return atMs;
}

const UNKNOWN_FIELD = 'is not a known field';

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

function invalid(what: 'message' | 'multicast', fields: Problems): DomainError {
  const summary = Object.entries(fields)
    .map(([field, reason]) => `${field} ${reason}`)
    .join('; ');
  return new DomainError(ErrorCode.InvalidArgument, `invalid ${what}: ${summary}`, { fields });
}
