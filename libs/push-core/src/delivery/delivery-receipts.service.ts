import { Injectable } from '@nestjs/common';
import type { DeliveryReceiptV1, DeliveryState } from '@borealis/contracts';
import { Clock } from '@borealis/util';
import { Delivery } from '../domain/delivery-state';
import { DeliveryRepository } from '../persistence/delivery.repository';
import { PushDb } from '../persistence/push-db';
import { DeliveryRouter } from './delivery-router';

const TARGET_STATE: Record<DeliveryReceiptV1['status'], DeliveryState> = {
  sent: Delivery.sent,
  delivered: Delivery.delivered,
  not_held: Delivery.pending,
};

/**
 * Receipts from transports move deliveries along the lifecycle (the repository refuses moves the
 * state machine forbids, and counts only the reporting device's deliveries). A `not_held` delivery
 * is pending again and is re-routed at once if presence names another instance.
 */
@Injectable()
export class DeliveryReceipts {
  constructor(
    private readonly db: PushDb,
    private readonly deliveries: DeliveryRepository,
    private readonly router: DeliveryRouter,
    private readonly clock: Clock,
  ) {}

  async handle(batch: readonly DeliveryReceiptV1[]): Promise<void> {
    const nowMs = this.clock.now();
    const notHeld: { deviceId: string; messageId: string }[] = [];
    const staleRoutes = new Map<string, string>();
    // In order: one device's receipts may move the same delivery twice within a batch.
    for (const receipt of batch) {
      await this.deliveries.transition(this.db.sql, receipt.deviceId, receipt.messageIds, TARGET_STATE[receipt.status], nowMs);
      if (receipt.status !== 'not_held') continue;
      for (const messageId of receipt.messageIds) notHeld.push({ deviceId: receipt.deviceId, messageId });
      staleRoutes.set(receipt.deviceId, receipt.instanceId);
    }
    if (notHeld.length === 0) return;
    const pending = await this.deliveries.outboundOfPairs(this.db.sql, notHeld, [Delivery.pending], nowMs);
    await this.router.routeByPresence(pending, staleRoutes);
  }
}
