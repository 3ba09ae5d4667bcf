import { Injectable } from '@nestjs/common';
import { encodeMessageCursor, type ListableMessageState, type MessageListPosition, type MessageListV1, type MessageSummaryV1 } from '@borealis/contracts';
import { Clock } from '@borealis/util';
import { effectiveState } from '../domain/delivery-state';
import { aggregateState, countByState } from '../domain/message-status';
import { groupBy } from '../group-by';
import { DeliveryRepository } from '../persistence/delivery.repository';
import { MessageRepository, type StoredMessage } from '../persistence/message.repository';
import { PushDb } from '../persistence/push-db';

export interface MessageListRequest {
  state?: ListableMessageState | undefined;
  /** Only messages accepted at or after this time. */
  sinceMs?: number | undefined;
  limit: number;
  after?: MessageListPosition | null | undefined;
}

/**
 * Messages examined per request at most when a state filter skips most of them: a request's cost
 * stays bounded, and the client continues with `nextCursor` (the page may be short, even empty).
 */
export const MAX_EXAMINED = 1000;
const BATCH = 100;

/**
 * A project's messages, newest first, a page at a time (keyset pagination on acceptance time and
 * id). The state is the aggregate of the message status, computed the same way; filtering by it
 * happens here, batch by batch, so the cursor always points after the last message examined.
 */
@Injectable()
export class MessageListQuery {
  constructor(
    private readonly db: PushDb,
    private readonly messages: MessageRepository,
    private readonly deliveries: DeliveryRepository,
    private readonly clock: Clock,
  ) {}

  async list(projectId: string, request: MessageListRequest): Promise<MessageListV1> {
    const nowMs = this.clock.now();
    const page: MessageSummaryV1[] = [];
    let after = request.after ?? null;
    let examined = 0;
    for (;;) {
      // Unfiltered: just the page and one more (whether there is a next page). Filtered: batches.
      const want = request.state === undefined ? request.limit - page.length + 1 : Math.min(BATCH, MAX_EXAMINED - examined);
      const batch = await this.messages.newestOf(this.db.sql, projectId, request.sinceMs ?? 0, after, want);
      const summaries = await this.summarize(projectId, request.state === undefined ? batch.slice(0, request.limit - page.length) : batch, nowMs);
      let consumed = 0;
      for (const summary of summaries) {
        const message = batch[consumed++]!;
        examined++;
        after = { acceptedAtMs: message.acceptedAtMs, messageId: message.id };
        if (request.state === undefined || summary.state === request.state) page.push(summary);
        if (page.length === request.limit) break;
      }
      if (batch.length < want && consumed === batch.length) return { projectId, messages: page, nextCursor: null };
      if (page.length === request.limit || examined >= MAX_EXAMINED) return { projectId, messages: page, nextCursor: after && encodeMessageCursor(after) };
    }
  }

  private async summarize(projectId: string, messages: readonly StoredMessage[], nowMs: number): Promise<MessageSummaryV1[]> {
    const groups = groupBy(
      await this.deliveries.stateCountsOfMessages(
        this.db.sql,
        projectId,
        messages.map((m) => m.id),
        nowMs,
      ),
      (g) => g.messageId,
    );
    return messages.map((message) => {
      const counts = countByState((groups.get(message.id) ?? []).map((g) => [effectiveState(g.state, g.pastExpiry), g.n] as const));
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
      };
    });
  }
}
