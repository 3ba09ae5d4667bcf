import { z } from 'zod';
import { decodeMessageCursor, ListableMessageState, MessageListV1, MessageStatusV1, MessageSummaryV1, ProjectStatsV1, RegistrationInfoV1, RegistrationTopicsV1 } from './events';
import { codePointLength, Limits, parseTtl } from './limits';

/**
 * The bodies of the public push API (docs/api.md), and the query parameters of its listing and
 * statistics, each described once. The gateway validates with
 * these schemas, its OpenAPI document is generated from them (`z.toJSONSchema`), and the server SDK
 * takes its request and response types from them. A schema states every rule of one field that
 * JSON Schema can say (types, required, unknown fields, enums, patterns, lengths: `maxLength`
 * counts code points in JSON Schema, so the length checks here do too). The rules it cannot say,
 * across fields or on the JSON text (`send_at` within the TTL, at least one of title, message or
 * data, `data`'s depth and size), are code in the gateway, one function per body.
 *
 * Each message is what the problem's `errors` member says after the field's path, so they read
 * "target is required", "notification.title is 513 characters; the limit is 512".
 */

/**
 * What a target can be, for every type: topic names as FCM allows them (push-core applies the same
 * rule), and every id Borealis issues (`reg_`/`app_` and base64url). Anything else (blank, spaces,
 * control characters, slashes) can never match a recipient, so it is refused at once rather than
 * accepted with 200 and failed later.
 */
export const TARGET_PATTERN = `^[A-Za-z0-9_.~%-]{1,${Limits.targetMaxChars}}$`;
export const TARGET_RULE = `1 to ${Limits.targetMaxChars} letters, digits or -_.~%`;
/** Deepest nesting of objects and arrays accepted in `notification.data`. */
export const DATA_MAX_DEPTH = 32;
/** Registration ids one multicast may name. */
export const MULTICAST_MAX_RECIPIENTS = 1000;
/** The longest registration id; longer ones in a multicast are rejected per recipient. */
export const REGISTRATION_ID_MAX_CHARS = 128;

export const TTL_PROBLEM = `must be a duration like "5h30m" (units h, m, s) of at most ${Limits.ttlMaxSeconds / 86400} days`;
export const SEND_AT_PROBLEM = 'must be an RFC 3339 date-time with a time zone, like "2027-01-31T09:00:00Z"';
export const TARGET_PROBLEM = `must be a registrationId, applicationId or topic name: ${TARGET_RULE}`;
/** The target rule in the words of each type (the gateway picks one when `type` is valid). */
export const TARGET_PROBLEM_OF_TYPE = {
  device: `must be a registrationId: ${TARGET_RULE}`,
  application: `must be an applicationId: ${TARGET_RULE}`,
  topic: `must be a topic name: ${TARGET_RULE}`,
} as const;

/** `5h30m`, `90s`, `1h`: units h, m, s in that order, each at most once, at least one. */
const TTL_SHAPE = /^(?=\d)(?:\d{1,6}h)?(?:\d{1,6}m)?(?:\d{1,8}s)?$/;
/** RFC 3339 date-time with a zone (Z or an offset). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** "is required" for an absent field, else "must be ..." */
const expected =
  (what: string) =>
  (issue: { input?: unknown }): string =>
    issue.input === undefined ? 'is required' : `must be ${what}`;

/** A string of at most `max` Unicode code points (as JSON Schema's maxLength counts). */
function text(max: number) {
  return z.string({ error: expected('a string') }).check((ctx) => {
    const chars = codePointLength(ctx.value);
    if (chars > max) ctx.issues.push({ code: 'custom', input: ctx.value, message: `is ${chars} characters; the limit is ${max}` });
  });
}

const JSON_OBJECT = 'must be a JSON object';
const isJsonObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export const SendTargetType = z.enum(['device', 'application', 'topic'], { error: expected('"device", "application" or "topic"') });
export type SendTargetType = z.infer<typeof SendTargetType>;

/** The `ttl` rule whole: its shape, and at most the longest TTL. */
export function isTtl(ttl: string): boolean {
  return TTL_SHAPE.test(ttl) && ttlSeconds(ttl) !== null;
}

export const Ttl = z
  .string({ error: TTL_PROBLEM })
  .regex(TTL_SHAPE, TTL_PROBLEM)
  .refine((ttl) => !TTL_SHAPE.test(ttl) || isTtl(ttl), TTL_PROBLEM)
  .meta({ description: `Duration like 5h30m, at most ${Limits.ttlMaxSeconds / 86400} days (the default)`, examples: ['5h30m', '90s'] });

/** `data` is kept as the very object sent (a zod object would copy it, and drop a `__proto__` key). */
const NotificationData = z.custom<Record<string, unknown>>(isJsonObject, { error: JSON_OBJECT }).meta({
  type: 'object',
  description: `Delivered to the device as JSON text; at most ${Limits.dataMaxBytes} bytes as UTF-8 JSON, ${DATA_MAX_DEPTH} levels deep`,
});

export const PushNotification = z
  .strictObject(
    {
      title: text(Limits.titleMaxChars).meta({ maxLength: Limits.titleMaxChars, description: 'Counted in Unicode code points' }).optional(),
      message: text(Limits.messageMaxChars).meta({ maxLength: Limits.messageMaxChars, description: 'Counted in Unicode code points' }).optional(),
      data: NotificationData.optional(),
    },
    { error: expected('a JSON object') },
  )
  .meta({
    description:
      'Every field is optional, but at least one of title, message (not empty) or data must be given. A push with data only is silent: the device gets it with empty title and message and shows nothing.',
    examples: [{ title: 'Hello', message: 'World' }, { data: { sync: true } }],
  });
export type PushNotification = z.infer<typeof PushNotification>;

const priority = z
  .enum(['high', 'normal'], { error: 'must be "high" or "normal"' })
  .meta({ default: 'normal', description: 'A device connecting to a backlog gets its high ones first' })
  .optional();
const collapseKey = text(Limits.collapseKeyMaxChars)
  .min(1, 'must not be empty')
  .meta({ maxLength: Limits.collapseKeyMaxChars, description: 'A newer pending message with the same key replaces the older one' })
  .optional();
const sendAt = z
  .string({ error: SEND_AT_PROBLEM })
  .refine((at) => RFC3339.test(at) && !Number.isNaN(Date.parse(at)), SEND_AT_PROBLEM)
  .meta({
    format: 'date-time',
    description:
      'A scheduled send (Borealis extension): RFC 3339 with a time zone. Stored at once (the 200 means durable), sent to no device before this time (within about a second after it), cancellable until then. Must be less than the TTL ahead (the TTL counts from acceptance); a time already past sends at once.',
  })
  .optional();

/** What a send and a multicast both carry besides their recipients. */
const MESSAGE_FIELDS = {
  ttl: Ttl.optional(),
  notification: PushNotification,
  priority,
  collapse_key: collapseKey,
  send_at: sendAt,
};

/** `POST /projects/{project_id}/messages`: the Aurora body plus Borealis' optional fields. */
export const SendMessageRequest = z
  .strictObject(
    {
      target: text(Limits.targetMaxChars)
        .min(1, 'must not be empty')
        .regex(new RegExp(TARGET_PATTERN), TARGET_PROBLEM)
        .meta({ maxLength: Limits.targetMaxChars, description: 'registrationId, applicationId or topic name, by type' }),
      type: SendTargetType,
      ...MESSAGE_FIELDS,
    },
    { error: JSON_OBJECT },
  )
  .meta({
    examples: [
      { target: 'reg_3q2-7wEvQ_uZtSpcH2Ngxw', type: 'device', ttl: '5h30m', notification: { title: 'Hello', message: 'World', data: { articleId: 'a-18734' } } },
      { target: 'news', type: 'topic', notification: { data: { sync: true } }, priority: 'high', collapse_key: 'news' },
    ],
  });
export type SendMessageRequest = z.infer<typeof SendMessageRequest>;

/** `POST /projects/{project_id}/messages/multicast`: a send body naming its recipients in `registration_ids`. */
export const MulticastRequest = z
  .strictObject(
    {
      registration_ids: z
        .array(z.string({ error: 'must be a string' }), { error: (issue) => (issue.input === undefined ? 'is required: an array of registration ids' : 'must be an array of registration ids') })
        .check((ctx) => {
          const n = ctx.value.length;
          if (n === 0 || n > MULTICAST_MAX_RECIPIENTS) ctx.issues.push({ code: 'custom', input: ctx.value, message: `must hold 1 to ${MULTICAST_MAX_RECIPIENTS} registration ids (got ${n})` });
        })
        .meta({
          minItems: 1,
          maxItems: MULTICAST_MAX_RECIPIENTS,
          description: 'Registration ids of this project; each judged on its own (malformed: invalid_argument, not a live registration of this project: not_found)',
        }),
      ...MESSAGE_FIELDS,
    },
    { error: JSON_OBJECT },
  )
  .meta({ examples: [{ registration_ids: ['reg_3q2-7wEvQ_uZtSpcH2Ngxw', 'reg_8fQ1-xYw2Ue3kLm0PqRs4A'], notification: { title: 'Hello' } }] });
export type MulticastRequest = z.infer<typeof MulticastRequest>;

/** Messages one listing page holds by default, and at most. */
export const LIST_DEFAULT_LIMIT = 20;
export const LIST_MAX_LIMIT = 100;
/** Longest range of days one stats request may cover. */
export const STATS_MAX_DAYS = 366;
const LIMIT = /^\d{1,4}$/;
const UTC_DAY = /^\d{4}-\d{2}-\d{2}$/;

/** A query parameter: Fastify hands over a string, or an array when the parameter was given twice. */
const queryText = (problem: string) => z.string({ error: (issue) => (Array.isArray(issue.input) ? 'must be given once' : problem) });

/**
 * The query of `GET /projects/{project_id}/messages`. Values are text on the wire; `limit` is
 * documented as the integer it must spell.
 */
export const MessageListQuery = z.strictObject({
  state: z
    .enum(ListableMessageState.options, { error: (issue) => (Array.isArray(issue.input) ? 'must be given once' : `must be one of ${ListableMessageState.options.join(', ')}`) })
    .meta({ description: 'Only messages whose aggregate state is this' })
    .optional(),
  since: queryText('must be an RFC 3339 time such as 2026-03-01T00:00:00Z')
    .refine((since) => RFC3339.test(since) && Date.parse(since) >= 0, 'must be an RFC 3339 time such as 2026-03-01T00:00:00Z')
    .meta({ format: 'date-time', description: 'Only messages accepted at or after this time (RFC 3339 with a zone)' })
    .optional(),
  limit: queryText(`must be an integer from 1 to ${LIST_MAX_LIMIT}`)
    .refine((limit) => LIMIT.test(limit) && Number(limit) >= 1 && Number(limit) <= LIST_MAX_LIMIT, `must be an integer from 1 to ${LIST_MAX_LIMIT}`)
    .meta({ type: 'integer', minimum: 1, maximum: LIST_MAX_LIMIT, default: LIST_DEFAULT_LIMIT })
    .optional(),
  cursor: queryText('is not a cursor this API returned')
    .refine((cursor) => decodeMessageCursor(cursor) !== null, 'is not a cursor this API returned')
    .meta({ description: 'The nextCursor of the previous page' })
    .optional(),
});
export type MessageListQuery = z.infer<typeof MessageListQuery>;

const utcDay = (description: string) =>
  queryText('must be a UTC day YYYY-MM-DD')
    .regex(UTC_DAY, 'must be a UTC day YYYY-MM-DD')
    .refine((day) => !UTC_DAY.test(day) || isCalendarDay(day), 'is not a calendar day')
    .meta({ format: 'date', description })
    .optional();

/** The query of `GET /projects/{project_id}/stats`: UTC days, both inclusive (other parameters are ignored). */
export const StatsQuery = z.object({
  from: utcDay('29 days before `to` when absent'),
  to: utcDay(`Today when absent; at most ${STATS_MAX_DAYS} days in all`),
});
export type StatsQuery = z.infer<typeof StatsQuery>;

/** The answer to a send: the message id, once the message is durable. */
export const SendMessageResponse = z.object({ id: z.string() });
export type SendMessageResponse = z.infer<typeof SendMessageResponse>;

export const MulticastRecipient = z.discriminatedUnion('status', [
  z.object({ registrationId: z.string(), status: z.literal('accepted') }),
  z.object({ registrationId: z.string(), status: z.literal('rejected'), code: z.enum(['invalid_argument', 'not_found']), detail: z.string() }),
]);
export type MulticastRecipient = z.infer<typeof MulticastRecipient>;

/** Each listed id's outcome; `id` is null when none was accepted (nothing sent, no quota taken). */
export const MulticastResponse = z.object({
  id: z.string().nullable().meta({ description: 'The message id; null when no id was accepted (nothing sent, no quota taken)' }),
  recipients: z.array(MulticastRecipient),
});
export type MulticastResponse = z.infer<typeof MulticastResponse>;

/** The answer to a topic (un)subscription: durable, applied by push-core shortly after. */
export const SubscriptionResponse = z.object({ requestId: z.string() });
export type SubscriptionResponse = z.infer<typeof SubscriptionResponse>;

/** The Aurora project description (`GET /projects/{project_id}`). */
export const ProjectInfoV1 = z.object({
  id: z.string(),
  name: z.string(),
  isActive: z.boolean(),
  serviceAccount: z.object({ clientId: z.string(), createdAt: z.string().meta({ format: 'date-time' }) }).nullable(),
  createdAt: z.string().meta({ format: 'date-time' }),
  updatedAt: z.string().meta({ format: 'date-time' }),
});
export type ProjectInfoV1 = z.infer<typeof ProjectInfoV1>;

/** RFC 9457 problem details, as every error of the API answers (docs/errors.md). */
export const Problem = z.object({
  type: z.string().meta({ format: 'uri' }),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.string().meta({ description: 'Stable code from the error catalogue' }),
  instance: z.string().optional(),
  errors: z.record(z.string(), z.string()).optional().meta({ description: 'Field path → what is wrong with it' }),
  errorId: z.string().optional().meta({ description: 'For internal errors: quote it to the operator' }),
});

/** Every schema of the API by the name the OpenAPI document gives it (`#/components/schemas/<name>`). */
export const PUSH_API_SCHEMAS = {
  Problem,
  SendRequest: SendMessageRequest,
  Notification: PushNotification,
  MulticastRequest,
  SendResult: SendMessageResponse,
  MulticastResult: MulticastResponse,
  SubscriptionAccepted: SubscriptionResponse,
  MessageStatus: MessageStatusV1,
  MessageSummary: MessageSummaryV1,
  MessageList: MessageListV1,
  Registration: RegistrationInfoV1,
  RegistrationTopics: RegistrationTopicsV1,
  Project: ProjectInfoV1,
  ProjectStats: ProjectStatsV1,
} as const;

/** A real day of the calendar (Date.parse rolls 2026-02-30 over to March: compare back). */
function isCalendarDay(day: string): boolean {
  const ms = Date.parse(`${day}T00:00:00Z`);
  return !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 10) === day;
}

/** Seconds of an Aurora TTL the schema accepted; null for one it refuses. */
export function ttlSeconds(ttl: string): number | null {
  try {
    return parseTtl(ttl);
  } catch {
    return null;
  }
}
