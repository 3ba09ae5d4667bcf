import { Controller, Inject } from '@nestjs/common';
import { Ctx } from '@nestjs/microservices';
import { Topics, transportInboxTopic, type TransportInboxV1 } from '@borealis/contracts';
import { BusClient, BusContext, BusEventPattern, type BusMessage, type BusResolve } from '@borealis/messaging';
import { Clock } from '@borealis/util';
import { CancelledDeliveries } from './cancelled-deliveries';
import { DeviceServer } from './device-server';
import { receiptRecords, type DeliveryOutcome } from './sent-receipts';
import { TRANSPORT_SETTINGS, type TransportSettings } from './transport-options';

const instanceOf = (resolve: BusResolve): string => resolve<TransportSettings>(TRANSPORT_SETTINGS).instanceId;

/**
 * Consumes this instance's inbox: deliveries are written to the device's connection (or reported
 * `not_held` when the device is no longer here), unless a cancel for them came first or in the same
 * batch; registration replies answer the waiting request.
 * `not_held` receipts are published before the batch counts as handled (push-core routes those
 * deliveries again); `sent` receipts are held for the device's Ack (`SentReceipts`), those of
 * deliveries that wait in a connection's write queue from when they are written.
 */
@Controller()
export class InboxConsumer {
  private readonly cancelled = new CancelledDeliveries();

  constructor(
    @Inject(TRANSPORT_SETTINGS) private readonly settings: TransportSettings,
    private readonly bus: BusClient,
    private readonly server: DeviceServer,
    private readonly clock: Clock,
  ) {}

  /** This instance's inbox, in a consumer group of its own. */
  @BusEventPattern({ pattern: 'borealis.transport.inbox', topic: (resolve) => transportInboxTopic(instanceOf(resolve)) }, { group: (resolve) => `borealis.transport.${instanceOf(resolve)}` })
  onInbox(@Ctx() context: BusContext<TransportInboxV1>): Promise<void> {
    return this.handle(context.getMessages());
  }

  /** Idempotent: a redelivered Notification is dropped by the device SDK, a redelivered reply finds no waiting request. */
  async handle(messages: BusMessage<TransportInboxV1>[]): Promise<void> {
    const now = this.clock.now();
    const written: DeliveryOutcome[] = [];
    const notHeld: DeliveryOutcome[] = [];
    // Cancels first: a delivery ahead of its cancel in the same batch is not written either.
    for (const { value } of messages) {
      if (value.kind !== 'cancel') continue;
      this.cancelled.add(value.deviceId, value.messageIds);
      // Those waiting in the device's write queue (behind a backlog, or held to coalesce) are not written either.
      this.server.cancelQueued(value.deviceId, value.messageIds);
    }
    for (const { value } of messages) {
      if (value.kind === 'registration.reply') {
        this.server.handleReply(value);
        continue;
      }
      // push-core has recorded these as cancelled: no receipt either.
      if (value.kind === 'cancel' || this.cancelled.has(value.deviceId, value.messageId)) continue;
      // An expired message is push-core's to mark expired; the device must not show it.
      if (value.expiresAtMs <= now) {
        this.server.stats.deliveriesExpired++;
        continue;
      }
      // A queued delivery's `sent` receipt follows when it is written (DeviceServer.written).
      const outcome = this.server.deliver(value);
      if (outcome === 'written') written.push({ status: 'sent', deviceId: value.deviceId, messageId: value.messageId });
      else if (outcome === 'not_held') notHeld.push({ status: 'not_held', deviceId: value.deviceId, messageId: value.messageId });
    }
    const held = this.server.sentReceipts.hold(now, written, messages);
    if (notHeld.length > 0) await this.bus.publishBatch(Topics.deliveryReceipts, receiptRecords(this.settings.instanceId, now, notHeld), { causedBy: messages });
    await held;
  }
}
