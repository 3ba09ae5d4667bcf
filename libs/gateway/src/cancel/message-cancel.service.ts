import { Injectable, Logger } from '@nestjs/common';
import { DomainError, ErrorCode, Topics, type MessageStatusV1 } from '@borealis/contracts';
import { BusClient } from '@borealis/messaging';
import { Clock, isUuid, uuidv7 } from '@borealis/util';
import { MessageStatusReader } from '../status/message-status-reader';

/** How long a cancel waits for push-core to apply it before answering 202. */
const APPLY_WAIT_MS = 3000;
const POLL_MS = 25;

export interface CancelOutcome {
  /** True when push-core has applied the cancel (or there was nothing left to cancel). */
  applied: boolean;
  status: MessageStatusV1;
}

/**
 * `DELETE /projects/{id}/messages/{mid}`: publishes the cancel (durable in Kafka, like a send) for a
 * message push-core knows in this project, then reads the status until push-core has applied it,
 * so that a 200 means no recipient will be sent the message from now on. Idempotent: cancelling
 * again publishes a request that changes nothing.
 */
@Injectable()
export class MessageCancelService {
  private readonly logger = new Logger(MessageCancelService.name);

  constructor(
    private readonly bus: BusClient,
    private readonly statuses: MessageStatusReader,
    private readonly clock: Clock,
  ) {}

  async cancel(projectId: string, messageId: string, requestId?: string): Promise<CancelOutcome> {
    // Message ids are UUIDs minted by the gateway; a status that exists proves the message is this
    // project's and already stored, so the cancel can never overtake the message itself.
    const before = isUuid(messageId) ? await this.statuses.getStatus(projectId, messageId) : null;
    if (!before) throw new DomainError(ErrorCode.NotFound, `message ${messageId} not found in project ${projectId}`);
    // Nothing open (delivered, expired, failed, or cancelled before): nothing to publish.
    if (isSettled(before) && before.state !== 'stored') return { applied: true, status: before };

    const atMs = this.clock.now();
    try {
      await this.bus.publishBatch(Topics.messageCancelRequested, [{ value: { requestId: uuidv7(atMs), projectId, messageId, atMs } }]);
    } catch (err) {
      this.logger.warn({ msg: 'cancel request not durable', requestId, projectId, messageId, error: String(err) });
      throw new DomainError(ErrorCode.Unavailable, 'the cancel request could not be made durable; retry', { retryAfterSeconds: 1 });
    }
    const deadline = Date.now() + APPLY_WAIT_MS;
    for (;;) {
      const status = await this.statuses.getStatus(projectId, messageId);
      if (!status) throw new DomainError(ErrorCode.NotFound, `message ${messageId} not found in project ${projectId}`);
      if (status.state === 'cancelled' || (isSettled(status) && status.state !== 'stored')) return { applied: true, status };
      if (Date.now() >= deadline) return { applied: false, status };
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}

/** No recipient is pending or sent: nothing a cancel could still stop. */
function isSettled(status: MessageStatusV1): boolean {
  return (status.counts['pending'] ?? 0) + (status.counts['sent'] ?? 0) === 0;
}
