import { Injectable, Optional } from '@nestjs/common';
import type { DeliveryReceiptV1, DeliveryState } from '@borealis/contracts';
import { Metrics } from '@borealis/platform';
import { Clock } from '@borealis/util';
import { Delivery } from '../domain/delivery-state';
import { receiptRounds } from '../domain/receipt-rounds';
import { groupBy } from '../group-by';
import { DeliveryRepository, type MovedRow } from '../persistence/delivery.repository';
import { PushDb } from '../persistence/push-db';
import { perRow, StatsRepository } from '../persistence/stats.repository';
import { DeliveryRouter } from './delivery-router';

const TARGET_STATE: Record<DeliveryReceiptV1['status'], DeliveryState> = {
  sent: Delivery.sent,
  delivered: Delivery.delivered,
  not_held: Delivery.pending,
};

/**
 * Receipts from transports move deliveries along the lifecycle (the repository refuses moves the
 * state machine forbids, and counts only the reporting device's deliveries), in one transaction
 * per batch with set-based statements, and count the deliveries that reached `delivered`. A
 * `not_held` delivery is pending again and is re-routed at once if presence names another instance.
 */
@Injectable()
export class DeliveryReceipts {
  constructor(
    private readonly db: PushDb,
    private readonly deliveries: DeliveryRepository,
    private readonly stats: StatsRepository,
    private readonly router: DeliveryRouter,
    private readonly clock: Clock,
    @Optional() private readonly metrics?: Metrics,
  ) {}

  /** Acceptance by the gateway to the device's acknowledgement, as push-core learns it. */
  private observeLatency(moved: readonly MovedRow[], nowMs: number): void {
    if (!this.metrics) return;
    for (const row of moved) this.metrics.deliveryLatency.observe(Math.max(0, nowMs - row.accepted_at_ms) / 1000);
  }

  async handle(batch: readonly DeliveryReceiptV1[]): Promise<void> {
    const nowMs = this.clock.now();
    await this.db.transaction(async (sql) => {
      for (const round of receiptRounds(batch)) {
        for (const [status, moves] of groupBy(round, (m) => m.status)) {
          const moved = await this.deliveries.transition(sql, moves, TARGET_STATE[status as DeliveryReceiptV1['status']], nowMs);
          if (status === 'delivered') {
            await this.stats.bump(sql, perRow(moved, 'delivered', nowMs));
            sql.afterCommit(() => this.observeLatency(moved, nowMs));
          } else if (status === 'sent' && moved.length > 0) {
            sql.afterCommit(() => this.metrics?.deliveries.inc({ state: 'sent' }, moved.length));
          }
        }
      }
    });

    const notHeld = batch.filter((r) => r.status === 'not_held');
    if (notHeld.length === 0) return;
    const staleRoutes = new Map(notHeld.map((r) => [r.deviceId, r.instanceId]));
    const pairs = notHeld.flatMap((r) => r.messageIds.map((messageId) => ({ deviceId: r.deviceId, messageId })));
    const pending = await this.deliveries.outboundOfPairs(this.db.sql, pairs, [Delivery.pending], nowMs);
    await this.router.routeByPresence(pending, staleRoutes);
  }
}
