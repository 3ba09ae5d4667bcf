import { Injectable, Logger } from '@nestjs/common';
import type { MessageCancelRequestedV1 } from '@borealis/contracts';
import type { PublishCause } from '@borealis/messaging';
import { Clock } from '@borealis/util';
import { DeliveryRepository } from '../persistence/delivery.repository';
import { MessageRepository } from '../persistence/message.repository';
import { PushDb } from '../persistence/push-db';
import { perRow, StatsRepository } from '../persistence/stats.repository';
import { DeliveryRouter } from './delivery-router';

/**
 * App servers cancel messages (`DELETE .../messages/{id}` through the gateway). In one transaction
 * per batch: the message is marked cancelled (a fan-out in progress stops at its next chunk) and its
 * open deliveries become `cancelled`, counted per recipient. Delivered recipients keep their state.
 * Idempotent: a redelivered request finds nothing open. A message of another project, or unknown,
 * is left alone. Once committed, nothing routes these deliveries again (every flush reads open
 * deliveries only); the transports holding the devices are told too, so that a delivery already
 * waiting in their inbox is dropped rather than written.
 */
@Injectable()
export class MessageCancellation {
  private readonly logger = new Logger('PushCoreMessageCancellation');

  constructor(
    private readonly db: PushDb,
    private readonly messages: MessageRepository,
    private readonly deliveries: DeliveryRepository,
    private readonly stats: StatsRepository,
    private readonly router: DeliveryRouter,
    private readonly clock: Clock,
  ) {}

  /** `causedBy`: the bus batch being handled, when called by its handler (see `PublishOptions`). */
  async handle(batch: readonly MessageCancelRequestedV1[], causedBy?: PublishCause): Promise<void> {
    const unique = [...new Map(batch.map((r) => [`${r.projectId}\n${r.messageId}`, r])).values()];
    const nowMs = this.clock.now();
    const cancelled = await this.db.transaction(async (sql) => {
      const rows: { deviceId: string; messageId: string }[] = [];
      for (const request of unique) {
        if (!(await this.messages.markCancelled(sql, request.projectId, request.messageId, nowMs))) {
          this.logger.log({ msg: 'cancel changed nothing: no such message in this project, or nothing left to cancel', requestId: request.requestId, projectId: request.projectId, messageId: request.messageId });
          continue;
        }
        const open = await this.deliveries.cancelOpen(sql, request.projectId, request.messageId, nowMs);
        await this.stats.bump(sql, perRow(open, 'cancelled', nowMs));
        for (const row of open) rows.push({ deviceId: row.device_id, messageId: row.message_id });
      }
      return rows;
    });
    await this.router.cancelQueued(cancelled, causedBy);
  }
}
