import type { z } from 'zod';
import {
  DeadLetterV1,
  DeliveryReceiptV1,
  DeviceEventV1,
  MessageAcceptedV1,
  MessageCancelRequestedV1,
  RegistrationRequestedV1,
  RegistrationUnregisterRequestedV1,
  RegistryEventV1,
  TopicSubscriptionRequestedV1,
  TransportInboxV1,
} from './events';

/**
 * A Kafka topic and its payload contract. Producer and consumer both use this definition; no
 * topic name is ever written as a literal at a call site. Names are hierarchical and versioned.
 */
export interface TopicDef<T> {
  readonly name: string;
  readonly schema: z.ZodType<T>;
  /** The record key: keeps per-device (or per-entity) order. */
  readonly key: (value: T) => string;
  /** Compacted topics keep the latest record per key (registry state). */
  readonly compacted: boolean;
}

function topic<T>(name: string, schema: z.ZodType<T>, key: (value: T) => string, compacted = false): TopicDef<T> {
  return { name, schema, key, compacted };
}

export const Topics = {
  /** gateway → push-core. Key: project and target, so one target's messages stay in order. */
  messageAccepted: topic('borealis.push.message.accepted.v1', MessageAcceptedV1, (m) => `${m.projectId}:${m.target.type}:${m.target.value}`),
  /** gateway → push-core. Key: message. */
  messageCancelRequested: topic('borealis.push.message.cancel.requested.v1', MessageCancelRequestedV1, (m) => m.messageId),
  /** transport → push-core. Key: device. */
  registrationRequested: topic('borealis.transport.registration.requested.v1', RegistrationRequestedV1, (m) => m.deviceId),
  /** transport → push-core. Key: device. */
  deviceEvents: topic('borealis.transport.device.event.v1', DeviceEventV1, (m) => m.deviceId),
  /** transport → push-core. Key: device. */
  deliveryReceipts: topic('borealis.transport.delivery.receipt.v1', DeliveryReceiptV1, (m) => m.deviceId),
  /** auth → everyone, compacted. Key: entity kind and id. */
  registry: topic(
    'borealis.auth.registry.v1',
    RegistryEventV1,
    (m) => {
      switch (m.kind) {
        case 'project':
          return `project:${m.project.id}`;
        case 'application':
          return `application:${m.application.id}`;
        case 'service-account-key':
          return `service-account-key:${m.key.id}`;
      }
    },
    true,
  ),
  /** gateway → push-core. Key: registration. */
  topicSubscriptionRequested: topic('borealis.push.subscription.requested.v1', TopicSubscriptionRequestedV1, (m) => m.registrationId),
  /** gateway → push-core. Key: registration. */
  registrationUnregisterRequested: topic('borealis.push.registration.unregister.requested.v1', RegistrationUnregisterRequestedV1, (m) => m.registrationId),
  /** Any consumer → operators. Key: the original record's key. */
  deadLetter: topic('borealis.deadletter.v1', DeadLetterV1, (m) => m.key ?? m.topic),
} as const;

const INSTANCE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function isValidInstanceId(instanceId: string): boolean {
  return INSTANCE_ID.test(instanceId);
}

/** push-core → one transport instance: deliveries and registration replies. Key: device. */
export function transportInboxTopic(instanceId: string): TopicDef<TransportInboxV1> {
  if (!isValidInstanceId(instanceId)) throw new Error(`invalid transport instance id "${instanceId}"`);
  return topic(`borealis.transport.inbox.${instanceId}.v1`, TransportInboxV1, (m) => m.deviceId);
}
