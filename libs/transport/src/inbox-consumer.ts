import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { Topics, transportInboxTopic, type DeliveryReceiptV1, type TransportInboxV1 } from '@borealis/contracts';
import { MessageBus, type BusMessage, type PublishRecord } from '@borealis/messaging';
import { Clock } from '@borealis/util';
import { DeviceServer } from './device-server';
import { TRANSPORT_SETTINGS, type TransportSettings } from './transport-options';

const MAX_RECEIPT_IDS = 1000;

type ReceiptStatus = Extract<DeliveryReceiptV1['status'], 'sent' | 'not_held'>;

export interface DeliveryOutcome {
  status: ReceiptStatus;
  deviceId: string;
  messageId: string;
}

/** One receipt per device and status (at most 1000 ids each) instead of one per message. */
export function receiptRecords(instanceId: string, atMs: number, outcomes: readonly DeliveryOutcome[]): PublishRecord<DeliveryReceiptV1>[] {
  const groups = new Map<string, { status: ReceiptStatus; deviceId: string; ids: Set<string> }>();
  for (const { status, deviceId, messageId } of outcomes) {
    const key = `${status}\n${deviceId}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { status, deviceId, ids: new Set() }));
    group.ids.add(messageId);
  }
  const records: PublishRecord<DeliveryReceiptV1>[] = [];
  for (const { status, deviceId, ids } of groups.values()) {
    const all = [...ids];
    for (let i = 0; i < all.length; i += MAX_RECEIPT_IDS) {
      records.push({ value: { status, deviceId, instanceId, messageIds: all.slice(i, i + MAX_RECEIPT_IDS), atMs } });
    }
  }
  return records;
}

/**
 * Consumes this instance's inbox: deliveries are written to the device's connection (or reported
 * `not_held` when the device is no longer here), registration replies answer the waiting request.
 */
@Injectable()
export class InboxConsumer implements OnModuleInit {
  constructor(
    @Inject(TRANSPORT_SETTINGS) private readonly settings: TransportSettings,
    private readonly bus: MessageBus,
    private readonly server: DeviceServer,
    private readonly clock: Clock,
  ) {}

  async onModuleInit(): Promise<void> {
    const { instanceId } = this.settings;
    await this.bus.subscribe({
      topic: transportInboxTopic(instanceId),
      group: `borealis.transport.${instanceId}`,
      handler: (messages) => this.handle(messages),
    });
  }

  /** Idempotent: a redelivered Notification is dropped by the device SDK, a redelivered reply finds no waiting request. */
  async handle(messages: BusMessage<TransportInboxV1>[]): Promise<void> {
    const now = this.clock.now();
    const outcomes: DeliveryOutcome[] = [];
    for (const { value } of messages) {
      if (value.kind === 'registration.reply') {
        this.server.handleReply(value);
        continue;
      }
      // An expired message is push-core's to mark expired; the device must not show it.
      if (value.expiresAtMs <= now) {
        this.server.stats.deliveriesExpired++;
        continue;
      }
      const status = this.server.deliver(value) ? 'sent' : 'not_held';
      outcomes.push({ status, deviceId: value.deviceId, messageId: value.messageId });
    }
    const records = receiptRecords(this.settings.instanceId, now, outcomes);
    if (records.length > 0) await this.bus.publish(Topics.deliveryReceipts, records);
  }
}
