import { z } from 'zod';

/**
 * Kafka event payloads. Each is validated at the consumer with these schemas; a payload that does
 * not parse is dead-lettered with the reason. Times are milliseconds since the Unix epoch.
 */

const id = z.string().min(1).max(128);
const epochMs = z.number().int().nonnegative();
/** RFC 3339 text in an API answer (the OpenAPI document says `format: date-time`; not re-checked on read). */
const instant = () => z.string().meta({ format: 'date-time' });
/** A UTC day `YYYY-MM-DD` in an API answer. */
const day = () => z.string().meta({ format: 'date' });
/** A device's local user (device protocol version 2): opaque, short, no separators. */
const DEVICE_USER = z.string().max(64).regex(/^[A-Za-z0-9_.-]*$/, 'letters, digits, "_", "." and "-" only');

/** `registrations`: a multicast to the listed registration ids (a Borealis extension). */
export const TargetType = z.enum(['device', 'application', 'topic', 'registrations']);
export type TargetType = z.infer<typeof TargetType>;

export const Priority = z.enum(['high', 'normal']);
export type Priority = z.infer<typeof Priority>;

/** gateway → push-core: an app server's message, durable once this event is in Kafka. */
export const MessageAcceptedV1 = z.object({
  messageId: id,
  projectId: id,
  // Limits are counted in code points at the gateway; here in UTF-16 units, so twice as many.
  target: z.object({ type: TargetType, value: z.string().min(1).max(512) }),
  notification: z.object({
    title: z.string().max(4096),
    message: z.string().max(16384),
    /** The app server's `data` object as JSON text, or null. */
    data: z.string().max(65536).nullable(),
  }),
  ttlSeconds: z.number().int().nonnegative(),
  priority: Priority,
  collapseKey: z.string().max(256).nullable(),
  acceptedAtMs: epochMs,
  expiresAtMs: epochMs,
  /**
   * For target type `registrations` (multicast): the recipients the gateway found live in the
   * project; `target.value` is then how many there are. Absent for every other type.
   */
  registrationIds: z.array(id).min(1).max(1000).optional(),
  /** A scheduled send: not routed before this time (before `expiresAtMs`). Absent: at once. */
  sendAtMs: epochMs.optional(),
});
export type MessageAcceptedV1 = z.infer<typeof MessageAcceptedV1>;

/** One notification for one registration on one device, addressed to the transport holding it. */
export const DeliveryV1 = z.object({
  kind: z.literal('deliver'),
  messageId: id,
  deviceId: id,
  applicationId: id,
  registrationId: id,
  title: z.string(),
  message: z.string(),
  data: z.string().nullable(),
  sentAtMs: epochMs,
  expiresAtMs: epochMs,
  /**
   * The message's priority: the transport writes `high` ahead of `normal` pushes waiting for a slow
   * device and never holds it back to coalesce. Absent (a record from before the field) = normal.
   */
  priority: Priority.optional(),
});
export type DeliveryV1 = z.infer<typeof DeliveryV1>;

export const RegistrationOp = z.enum(['register', 'unregister', 'subscribe', 'unsubscribe']);
export type RegistrationOp = z.infer<typeof RegistrationOp>;

/** push-core → the transport that asked: the answer to a RegistrationRequestedV1. */
export const RegistrationReplyV1 = z.object({
  kind: z.literal('registration.reply'),
  correlationId: id,
  deviceId: id,
  op: RegistrationOp,
  ok: z.boolean(),
  applicationId: z.string().max(128),
  registrationId: z.string().max(128),
  isNew: z.boolean(),
  /** A code from the error catalogue when ok is false. */
  errorCode: z.string().max(64).nullable(),
  errorMessage: z.string().max(1024).nullable(),
});
export type RegistrationReplyV1 = z.infer<typeof RegistrationReplyV1>;

/**
 * push-core → the transport holding a device: these messages were cancelled, so a delivery of them
 * still waiting in this inbox (behind in the same batch, or published by a routing that raced the
 * cancel) must not be written to the device.
 */
export const DeliveryCancelV1 = z.object({
  kind: z.literal('cancel'),
  deviceId: id,
  messageIds: z.array(id).min(1).max(1000),
  atMs: epochMs,
});
export type DeliveryCancelV1 = z.infer<typeof DeliveryCancelV1>;

/** Everything addressed to one transport instance travels on its own inbox topic. */
export const TransportInboxV1 = z.discriminatedUnion('kind', [DeliveryV1, RegistrationReplyV1, DeliveryCancelV1]);
export type TransportInboxV1 = z.infer<typeof TransportInboxV1>;

/** transport → push-core: register (Aurora registrate), unregister, topic (un)subscribe. */
export const RegistrationRequestedV1 = z.object({
  correlationId: id,
  /** Instance id of the transport that waits for the reply on its inbox topic. */
  replyTo: id,
  deviceId: id,
  op: RegistrationOp,
  applicationId: z.string().max(128),
  /** The registrationId the device holds, or '' when it has none. */
  registrationId: z.string().max(128),
  /**
   * The device's local user the registration belongs to (device protocol version 2): an opaque key
   * of the device's push daemon, '' for the device's only user. Absent from older producers.
   */
  deviceUser: DEVICE_USER.default(''),
  /**
   * SHA-256 (hex) of the registration secret the device presented in Register, '' when none: the
   * transport hashes it, so that no secret travels on the bus. Absent from older producers.
   */
  registrationSecretHash: z.string().regex(/^([0-9a-f]{64})?$/).optional(),
  topics: z.array(z.string().min(1).max(256)).max(100),
  atMs: epochMs,
});
export type RegistrationRequestedV1 = z.infer<typeof RegistrationRequestedV1>;

/** transport → push-core: a device connected to or disconnected from an instance. */
export const DeviceEventV1 = z.object({
  kind: z.enum(['connected', 'disconnected']),
  deviceId: id,
  instanceId: id,
  atMs: epochMs,
});
export type DeviceEventV1 = z.infer<typeof DeviceEventV1>;

/**
 * transport → push-core: what happened to deliveries. `sent`: written to the device's socket;
 * `delivered`: acknowledged by the device; `not_held`: the instance no longer holds the device,
 * so the delivery stays pending.
 */
export const DeliveryReceiptV1 = z.object({
  status: z.enum(['sent', 'delivered', 'not_held']),
  deviceId: id,
  instanceId: id,
  messageIds: z.array(id).min(1).max(1000),
  atMs: epochMs,
});
export type DeliveryReceiptV1 = z.infer<typeof DeliveryReceiptV1>;

export const ServiceAccountInfo = z.object({
  clientId: id,
  createdAtMs: epochMs,
});

/** auth → everyone (compacted topic): the current state of a registry entity. */
export const RegistryEventV1 = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('project'),
    project: z.object({
      id,
      tenantId: id,
      name: z.string().max(256),
      isActive: z.boolean(),
      serviceAccount: ServiceAccountInfo.nullable(),
      createdAtMs: epochMs,
      updatedAtMs: epochMs,
    }),
  }),
  z.object({
    kind: z.literal('application'),
    application: z.object({
      id,
      projectId: id,
      name: z.string().max(256),
      isActive: z.boolean(),
      /**
       * SHA-256 (hex) of the registration secret devices must present to register with this
       * application; null or absent when it requires none.
       */
      registrationSecretHash: z.string().regex(/^[0-9a-f]{64}$/).nullable().optional(),
      createdAtMs: epochMs,
      updatedAtMs: epochMs,
    }),
  }),
  /**
   * A service-account key (the key an app server signs its client assertions with). Access tokens
   * carry its id in the `client_key_id` claim, so the gateway stops accepting tokens obtained with
   * a key once this event says it is revoked or expired.
   */
  z.object({
    kind: z.literal('service-account-key'),
    key: z.object({
      id,
      clientId: id,
      projectId: id,
      revokedAtMs: epochMs.nullable(),
      expiresAtMs: epochMs.nullable(),
      createdAtMs: epochMs,
      updatedAtMs: epochMs,
    }),
  }),
]);
export type RegistryEventV1 = z.infer<typeof RegistryEventV1>;

/** Written by any consumer for a message it could not accept; never consumed automatically. */
export const DeadLetterV1 = z.object({
  topic: z.string(),
  partition: z.number().int(),
  offset: z.string(),
  consumerGroup: z.string(),
  key: z.string().nullable(),
  reason: z.string(),
  /** The original value as UTF-8 text (or base64 when it is not valid UTF-8). */
  value: z.string(),
  atMs: epochMs,
});
export type DeadLetterV1 = z.infer<typeof DeadLetterV1>;

export const DeliveryState = z.enum(['pending', 'sent', 'delivered', 'expired', 'failed', 'cancelled']);
export type DeliveryState = z.infer<typeof DeliveryState>;

export const MessageState = z.enum(['accepted', 'stored', 'sent', 'delivered', 'expired', 'failed', 'cancelled']);
export type MessageState = z.infer<typeof MessageState>;

/**
 * A message's status as push-core reports it (internal query API push-core → gateway, and the body
 * of `GET /push/public/api/v1/projects/{project_id}/messages/{message_id}`). Times are RFC 3339.
 * `state` is the aggregate: the least advanced non-terminal state among recipients, else the
 * terminal one most recipients reached.
 */
export const MessageStatusV1 = z.object({
  id,
  projectId: id,
  state: MessageState,
  target: z.object({ type: TargetType, value: z.string() }),
  createdAt: instant(),
  expiresAt: instant(),
  /** When an app server cancelled it (RFC 3339), else null. */
  cancelledAt: instant().nullable().meta({ description: 'When an app server cancelled it' }),
  /** A scheduled send's time (RFC 3339), else null; absent from servers before scheduling. */
  sendAt: instant().nullable().optional().meta({ description: 'A scheduled send’s time (send_at), else null' }),
  counts: z.record(DeliveryState, z.number().int().nonnegative()),
  recipients: z.array(
    z.object({
      registrationId: z.string(),
      state: DeliveryState,
      updatedAt: instant(),
    }),
  ),
});
export type MessageStatusV1 = z.infer<typeof MessageStatusV1>;

/**
 * gateway → push-core: an app server (un)subscribes a registration to topics. push-core applies it
 * only when the registration belongs to `projectId`.
 */
export const TopicSubscriptionRequestedV1 = z.object({
  requestId: id,
  projectId: id,
  registrationId: id,
  op: z.enum(['subscribe', 'unsubscribe']),
  topics: z.array(z.string().min(1).max(256)).min(1).max(100),
  atMs: epochMs,
});
export type TopicSubscriptionRequestedV1 = z.infer<typeof TopicSubscriptionRequestedV1>;

/** Per-project daily counters (push-core → gateway, `GET .../projects/{id}/stats`). Days are UTC `YYYY-MM-DD`. */
export const ProjectStatsV1 = z.object({
  projectId: id,
  from: day(),
  to: day(),
  days: z.array(
    z.object({
      date: day(),
      accepted: z.number().int().nonnegative(),
      delivered: z.number().int().nonnegative(),
      expired: z.number().int().nonnegative(),
      failed: z.number().int().nonnegative(),
      cancelled: z.number().int().nonnegative(),
    }),
  ),
});
export type ProjectStatsV1 = z.infer<typeof ProjectStatsV1>;

/**
 * gateway → push-core: an app server cancels a message. push-core cancels the message's open
 * deliveries if the message belongs to `projectId`; idempotent.
 */
export const MessageCancelRequestedV1 = z.object({
  requestId: id,
  projectId: id,
  messageId: id,
  atMs: epochMs,
});
export type MessageCancelRequestedV1 = z.infer<typeof MessageCancelRequestedV1>;

/**
 * A registration as its project's app server sees it (push-core → gateway,
 * `GET .../registrations/{registration_id}`). Times are RFC 3339. `topics` lists the first
 * `topics` by name (at most 100); `topicCount` counts them all. A registration that went away
 * (unregistered by its device, by the app server, replaced or stale) keeps `unregisteredAt`
 * until retention purges it.
 */
export const RegistrationInfoV1 = z.object({
  registrationId: id,
  projectId: id,
  applicationId: id,
  createdAt: instant(),
  lastSeenAt: instant().meta({ description: 'Its last registrate or connection' }),
  unregisteredAt: instant().nullable().meta({ description: 'When it went away (by its device, the app server, replacement or staleness)' }),
  /** Whether the device holding it is connected to a transport now. */
  online: z.boolean().meta({ description: 'Its device is connected now' }),
  topicCount: z.number().int().nonnegative(),
  topics: z.array(z.string()).meta({ description: 'The first 100 topics by name; see /topics for all' }),
});
export type RegistrationInfoV1 = z.infer<typeof RegistrationInfoV1>;

/** A registration's topic subscriptions, by name (`GET .../registrations/{registration_id}/topics`). */
export const RegistrationTopicsV1 = z.object({
  registrationId: id,
  projectId: id,
  topics: z.array(z.object({ topic: z.string(), subscribedAt: instant() })),
});
export type RegistrationTopicsV1 = z.infer<typeof RegistrationTopicsV1>;

/** push-core → auth (the console): live registrations per application of a project; absent means none. */
export const RegistrationCountsV1 = z.object({ applications: z.record(z.string(), z.number().int().nonnegative()) });
export type RegistrationCountsV1 = z.infer<typeof RegistrationCountsV1>;

/**
 * gateway → push-core: an app server unregisters one of its registrations. push-core applies it
 * only to a live registration of `projectId`; idempotent. Its open deliveries fail.
 */
export const RegistrationUnregisterRequestedV1 = z.object({
  requestId: id,
  projectId: id,
  registrationId: id,
  atMs: epochMs,
});
export type RegistrationUnregisterRequestedV1 = z.infer<typeof RegistrationUnregisterRequestedV1>;

/** States a message listing can filter on: every aggregate state a stored message can have. */
export const ListableMessageState = z.enum(['stored', 'sent', 'delivered', 'expired', 'failed', 'cancelled']);
export type ListableMessageState = z.infer<typeof ListableMessageState>;

/** One message in a listing: its status without the recipients (`GET .../messages/{id}` has them). */
export const MessageSummaryV1 = MessageStatusV1.omit({ recipients: true });
export type MessageSummaryV1 = z.infer<typeof MessageSummaryV1>;

/**
 * A page of a project's messages, newest first (`GET .../projects/{id}/messages`). `nextCursor`
 * continues after the last message examined; null when there is nothing more. With a state
 * filter a page may hold fewer messages than asked for, even none, while `nextCursor` is set.
 */
export const MessageListV1 = z.object({
  projectId: id,
  messages: z.array(MessageSummaryV1),
  nextCursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null after the last' }),
});
export type MessageListV1 = z.infer<typeof MessageListV1>;

/** Where a message listing continues: after this message (acceptance time, then id, both descending). */
export interface MessageListPosition {
  acceptedAtMs: number;
  messageId: string;
}

const CURSOR = /^(\d{1,15})\.([A-Za-z0-9-]{1,128})$/;

/** Opaque to clients: base64url of `acceptedAtMs.messageId`. */
export function encodeMessageCursor(position: MessageListPosition): string {
  return Buffer.from(`${position.acceptedAtMs}.${position.messageId}`, 'utf8').toString('base64url');
}

/** Null for anything `encodeMessageCursor` did not make. */
export function decodeMessageCursor(cursor: string): MessageListPosition | null {
  if (cursor.length === 0 || cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) return null;
  const match = CURSOR.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) return null;
  const position = { acceptedAtMs: Number(match[1]), messageId: match[2]! };
  // base64url decoding forgives stray bits and padding: only the canonical text is a cursor.
  return encodeMessageCursor(position) === cursor ? position : null;
}
