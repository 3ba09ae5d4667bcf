import { Controller } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import {
  Topics,
  type DeliveryReceiptV1,
  type DeviceEventV1,
  type MessageAcceptedV1,
  type MessageCancelRequestedV1,
  type RegistrationRequestedV1,
  type RegistrationUnregisterRequestedV1,
  type RegistryEventV1,
  type TopicSubscriptionRequestedV1,
} from '@borealis/contracts';
import { BusContext, BusEventPattern, type BusResolve } from '@borealis/messaging';
import { DeliveryReceipts } from './delivery/delivery-receipts.service';
import { DeviceEvents } from './delivery/device-events.service';
import { MessageCancellation } from './delivery/message-cancellation.service';
import { MessageIngest } from './delivery/message-ingest.service';
import { DEFAULT_CONSUMER_GROUP_PREFIX, PUSH_CORE_OPTIONS, type PushCoreModuleOptions } from './push-core.options';
import { AppServerUnregistrations } from './registration/app-server-unregistrations.service';
import { Registrations } from './registration/registration.service';
import { TopicSubscriptions } from './registration/topic-subscriptions.service';
import { RegistryView } from './registry/registry-view.service';

/** A consumer group of push-core: `<consumerGroupPrefix>.<purpose>`. */
const group =
  (purpose: string) =>
  (resolve: BusResolve): string =>
    `${resolve<PushCoreModuleOptions>(PUSH_CORE_OPTIONS).consumerGroupPrefix ?? DEFAULT_CONSUMER_GROUP_PREFIX}.${purpose}`;

/** How long, in one process, a receipt waits for others to share its statement (docs/benchmarks.md, "Cost per push"). */
export const RECEIPT_BATCH_WAIT_MS = 5;

/**
 * push-core's Kafka consumers: thin adapters from bus batches to the use cases. Each handler gets
 * one batch of decoded records and returns when its effect is stored; the bus commits then, and
 * retries or dead-letters what it throws. A use case that publishes gets the batch's records as
 * its `causedBy` (see `PublishOptions`).
 */
@Controller()
export class PushCoreEventsController {
  constructor(
    private readonly registry: RegistryView,
    private readonly registrations: Registrations,
    private readonly subscriptions: TopicSubscriptions,
    private readonly ingest: MessageIngest,
    private readonly deviceEvents: DeviceEvents,
    private readonly receipts: DeliveryReceipts,
    private readonly cancellations: MessageCancellation,
    private readonly unregistrations: AppServerUnregistrations,
  ) {}

  @BusEventPattern(Topics.registry, { group: group('registry'), fromBeginning: true })
  onRegistry(@Payload() events: RegistryEventV1[]): Promise<void> {
    return this.registry.handle(events);
  }

  @BusEventPattern(Topics.registrationRequested, { group: group('registrations') })
  onRegistrationRequested(@Payload() requests: RegistrationRequestedV1[], @Ctx() context: BusContext): Promise<void> {
    return this.registrations.handle(requests, context.getMessages());
  }

  @BusEventPattern(Topics.topicSubscriptionRequested, { group: group('subscriptions') })
  onTopicSubscriptionRequested(@Payload() requests: TopicSubscriptionRequestedV1[]): Promise<void> {
    return this.subscriptions.handle(requests);
  }

  @BusEventPattern(Topics.registrationUnregisterRequested, { group: group('unregistrations') })
  onUnregisterRequested(@Payload() requests: RegistrationUnregisterRequestedV1[], @Ctx() context: BusContext): Promise<void> {
    return this.unregistrations.handle(requests, context.getMessages());
  }

  @BusEventPattern(Topics.messageAccepted, { group: group('messages') })
  onMessageAccepted(@Payload() messages: MessageAcceptedV1[], @Ctx() context: BusContext): Promise<void> {
    return this.ingest.handle(messages, context.getMessages());
  }

  @BusEventPattern(Topics.messageCancelRequested, { group: group('cancellations') })
  onMessageCancelRequested(@Payload() requests: MessageCancelRequestedV1[], @Ctx() context: BusContext): Promise<void> {
    return this.cancellations.handle(requests, context.getMessages());
  }

  @BusEventPattern(Topics.deviceEvents, { group: group('device-events') })
  onDeviceEvents(@Payload() events: DeviceEventV1[], @Ctx() context: BusContext): Promise<void> {
    return this.deviceEvents.handle(events, context.getMessages());
  }

  /**
   * Receipts wait up to RECEIPT_BATCH_WAIT_MS for each other in one process: a batch costs one
   * statement whatever its size, and nobody waits for a delivery's state but the status API.
   */
  @BusEventPattern(Topics.deliveryReceipts, { group: group('delivery-receipts'), batchWaitMs: RECEIPT_BATCH_WAIT_MS })
  onDeliveryReceipts(@Payload() receipts: DeliveryReceiptV1[], @Ctx() context: BusContext): Promise<void> {
    return this.receipts.handle(receipts, context.getMessages());
  }
}
