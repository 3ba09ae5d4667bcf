import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { Topics } from '@borealis/contracts';
import { MessageBus } from '@borealis/messaging';
import { DeliveryReceipts } from './delivery/delivery-receipts.service';
import { DeviceEvents } from './delivery/device-events.service';
import { MessageCancellation } from './delivery/message-cancellation.service';
import { MessageIngest } from './delivery/message-ingest.service';
import { DEFAULT_CONSUMER_GROUP_PREFIX, PUSH_CORE_OPTIONS, type PushCoreModuleOptions } from './push-core.options';
import { AppServerUnregistrations } from './registration/app-server-unregistrations.service';
import { Registrations } from './registration/registration.service';
import { TopicSubscriptions } from './registration/topic-subscriptions.service';
import { RegistryView } from './registry/registry-view.service';

/** push-core's Kafka consumers: thin adapters from bus batches to the use cases. */
@Injectable()
export class PushCoreConsumers implements OnModuleInit {
  constructor(
    @Inject(PUSH_CORE_OPTIONS) private readonly options: PushCoreModuleOptions,
    private readonly bus: MessageBus,
    private readonly registry: RegistryView,
    private readonly registrations: Registrations,
    private readonly subscriptions: TopicSubscriptions,
    private readonly ingest: MessageIngest,
    private readonly deviceEvents: DeviceEvents,
    private readonly receipts: DeliveryReceipts,
    private readonly cancellations: MessageCancellation,
    private readonly unregistrations: AppServerUnregistrations,
  ) {}

  async onModuleInit(): Promise<void> {
    const group = (purpose: string) => `${this.options.consumerGroupPrefix ?? DEFAULT_CONSUMER_GROUP_PREFIX}.${purpose}`;
    await this.bus.subscribe({
      topic: Topics.registry,
      group: group('registry'),
      fromBeginning: true,
      handler: (batch) => this.registry.handle(batch.map((m) => m.value)),
    });
    await this.bus.subscribe({
      topic: Topics.registrationRequested,
      group: group('registrations'),
      handler: (batch) => this.registrations.handle(batch.map((m) => m.value)),
    });
    await this.bus.subscribe({
      topic: Topics.topicSubscriptionRequested,
      group: group('subscriptions'),
      handler: (batch) => this.subscriptions.handle(batch.map((m) => m.value)),
    });
    await this.bus.subscribe({
      topic: Topics.registrationUnregisterRequested,
      group: group('unregistrations'),
      handler: (batch) => this.unregistrations.handle(batch.map((m) => m.value)),
    });
    await this.bus.subscribe({
      topic: Topics.messageAccepted,
      group: group('messages'),
      handler: (batch) => this.ingest.handle(batch.map((m) => m.value)),
    });
    await this.bus.subscribe({
      topic: Topics.messageCancelRequested,
      group: group('cancellations'),
      handler: (batch) => this.cancellations.handle(batch.map((m) => m.value)),
    });
    await this.bus.subscribe({
      topic: Topics.deviceEvents,
      group: group('device-events'),
      handler: (batch) => this.deviceEvents.handle(batch.map((m) => m.value)),
    });
    await this.bus.subscribe({
      topic: Topics.deliveryReceipts,
      group: group('delivery-receipts'),
      handler: (batch) => this.receipts.handle(batch.map((m) => m.value)),
    });
  }
}
