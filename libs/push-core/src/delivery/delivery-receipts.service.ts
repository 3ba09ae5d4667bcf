import { Injectable, Optional } from '@nestjs/common';
import type { DeliveryReceiptV1, DeliveryState } from '@borealis/contracts';
import type { PublishCause } from '@borealis/messaging';
import { Metrics } from '@borealis/platform';
import { Clock } from '@borealis/util';
import { Delivery } from '../domain/delivery-state';
import { receiptRounds, type ReceiptMove } from '../domain/receipt-rounds';
import { groupBy } from '../group-by';
import { DeliveryRepository, type MovedRow } from '../persistence/delivery.repository';
import { PushDb, type Sql } from '../persistence/push-db';
import { StatsRepository } from '../persistence/stats.repository';
import { DeliveryRouter } from './delivery-router';

const TARGET_STATE: Record<DeliveryReceiptV1['status'], DeliveryState> = {
  sent: Delivery.sent,
  delivered: Delivery.delivered,
  not_held: Delivery.pending,
};

/**
 * Receipts from transports move deliveries along the lifecycle (the repository refuses moves the
 * state machine forbids, and counts only the reporting device's deliveries) with set-based
 * statements, and count the deliveries that reached `delivered` in the statement that moved them.
 * A batch of one kind of receipt is one statement and needs no transaction; a mixed one is one
 * transaction. A `not_held` delivery is pending again and is re-routed at once if presence names
 * another instance.
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

  /** Moves these pairs to the receipt's state; `delivered` ones are counted in the same statement. */
  private async apply(sql: Sql, status: DeliveryReceiptV1['status'], moves: readonly ReceiptMove[], nowMs: number): Promise<void> {
    const to = TARGET_STATE[status];
    if (status === 'delivered') {
      const moved = await this.stats.countChanged<MovedRow>(sql, this.deliveries.transitionStatement(moves, to, nowMs), 'delivered', nowMs);
      sql.afterCommit(() => this.observeLatency(moved, nowMs));
      return;
    }
    const moved = await this.deliveries.transition(sql, moves, to, nowMs);
    if (status === 'sent' && moved.length > 0) sql.afterCommit(() => this.metrics?.deliveries.inc({ state: 'sent' }, moved.length));
  }

  /** Acceptance by the gateway to the device's acknowledgement, as push-core learns it. */
  private observeLatency(moved: readonly MovedRow[], nowMs: number): void {
    if (!this.metrics) return;
    for (const row of moved) this.metrics.deliveryLatency.observe(Math.max(0, nowMs - row.accepted_at_ms) / 1000);
  }

  /** `causedBy`: the bus batch being handled, when called by its handler (see `PublishOptions`). */
  async handle(batch: readonly DeliveryReceiptV1[], causedBy?: PublishCause): Promise<void> {
    const nowMs = this.clock.now();
    const steps = receiptRounds(batch).flatMap((round) => [...groupBy(round, (m) => m.status)]);
    if (steps.length === 1) {
      // The usual batch (every receipt a `delivered`): one statement, which commits on its own.
      const [status, moves] = steps[0]!;
      await this.apply(this.db.sql, status as DeliveryReceiptV1['status'], moves, nowMs);
    } else if (steps.length > 1) {
      await this.db.transaction(async (sql) => {
        for (const [status, moves] of steps) await this.apply(sql, status as DeliveryReceiptV1['status'], moves, nowMs);
      });
    }

    const notHeld = batch.filter((r) => r.status === 'not_held');
    if (notHeld.length === 0) return;
    const staleRoutes = new Map(notHeld.map((r) => [r.deviceId, r.instanceId]));
    const pairs = notHeld.flatMap((r) => r.messageIds.map((messageId) => ({ deviceId: r.deviceId, messageId })));
    const pending = await this.deliveries.outboundOfPairs(this.db.sql, pairs, [Delivery.pending], nowMs);
    await this.router.routeByPresence(pending, { staleRoutes, causedBy });
  }
}
