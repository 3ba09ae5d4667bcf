import { Injectable, Logger } from '@nestjs/common';
import { DomainError, ErrorCode, Limits, Topics } from '@borealis/contracts';
import { BusClient } from '@borealis/messaging';
import { Clock, uuidv7 } from '@borealis/util';
import { isValidTopicName } from '../send/send-request';

/**
 * An app server (un)subscribes one of its registrations to a topic. The request is durable in
 * Kafka when this returns; push-core applies it if the registration belongs to the project.
 */
@Injectable()
export class TopicSubscriptionService {
  private readonly logger = new Logger(TopicSubscriptionService.name);

  constructor(
    private readonly bus: BusClient,
    private readonly clock: Clock,
  ) {}

  async request(projectId: string, registrationId: string, topic: string, op: 'subscribe' | 'unsubscribe'): Promise<{ requestId: string }> {
    const fields: Record<string, string> = {};
    if (registrationId.length === 0 || registrationId.length > 128) fields['registrationId'] = 'must be 1 to 128 characters';
    if (!isValidTopicName(topic) || topic.length > Limits.targetMaxChars) fields['topic'] = 'must be a topic name: 1 to 256 letters, digits or -_.~%';
    if (Object.keys(fields).length > 0) throw new DomainError(ErrorCode.InvalidArgument, `invalid subscription: ${Object.entries(fields).map(([f, r]) => `${f} ${r}`).join('; ')}`, { fields });

    const atMs = this.clock.now();
    const requestId = uuidv7(atMs);
    try {
      await this.bus.publishBatch(Topics.topicSubscriptionRequested, [{ value: { requestId, projectId, registrationId, op, topics: [topic], atMs } }]);
    } catch (err) {
      this.logger.warn({ msg: 'subscription request not durable', projectId, error: String(err) });
      throw new DomainError(ErrorCode.Unavailable, 'the subscription request could not be made durable; retry', { retryAfterSeconds: 1 });
    }
    return { requestId };
  }
}
