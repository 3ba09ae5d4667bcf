import { Injectable } from '@nestjs/common';
import type { MessageStatusV1 } from '@borealis/contracts';
import { Clock } from '@borealis/util';
import { effectiveState } from '../domain/delivery-state';
import { aggregateState, countByState } from '../domain/message-status';
import { DeliveryRepository } from '../persistence/delivery.repository';
import { MessageRepository } from '../persistence/message.repository';
import { PushDb } from '../persistence/push-db';

/** Recipients listed in a status; counts always cover every recipient. */
export const MAX_STATUS_RECIPIENTS = 1000;

/** A message's status as its project sees it. Used by the gateway in process or over the internal API. */
@Injectable()
export class MessageStatusQuery {
  constructor(
    private readonly db: PushDb,
    private readonly messages: MessageRepository,
    private readonly deliveries: DeliveryRepository,
    private readonly clock: Clock,
  ) {}

  /** null when the project has no such message (including a message of another project). */
  async getStatus(projectId: string, messageId: string): Promise<MessageStatusV1 | null> {
    const message = await this.messages.find(this.db.sql, projectId, messageId);
    if (!message) return null;
    const nowMs = this.clock.now();
    const [groups, recipients] = await Promise.all([
      this.deliveries.stateCounts(this.db.sql, projectId, messageId, nowMs),
      this.deliveries.recipients(this.db.sql, projectId, messageId, MAX_STATUS_RECIPIENTS),
    ]);
    const counts = countByState(groups.map((g) => [effectiveState(g.state, g.pastExpiry), g.n] as const));
    return {
      id: message.id,
      projectId: message.projectId,
      state: aggregateState(message.outcome, counts, message.cancelledAtMs !== null),
      target: { type: message.targetType, value: message.targetValue },
      createdAt: new Date(message.acceptedAtMs).toISOString(),
      expiresAt: new Date(message.expiresAtMs).toISOString(),
      cancelledAt: message.cancelledAtMs === null ? null : new Date(message.cancelledAtMs).toISOString(),
        sendAt: message.sendAtMs === null ? null : new Date(message.sendAtMs).toISOString(),
      counts,
      recipients: recipients.map((r) => ({
        registrationId: r.registrationId,
        state: effectiveState(r.state, r.expiresAtMs <= nowMs),
        updatedAt: new Date(r.updatedAtMs).toISOString(),
      })),
    };
  }
}
