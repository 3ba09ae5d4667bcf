import { Injectable, Logger } from '@nestjs/common';
import { DomainError, ErrorCode, type TopicSubscriptionRequestedV1 } from '@borealis/contracts';
import { Clock } from '@borealis/util';
import { isValidTopicName, MAX_TOPICS_PER_REGISTRATION } from '../domain/topic-name';
import { PushDb } from '../persistence/push-db';
import { RegistrationRepository } from '../persistence/registration.repository';

/**
 * Topic (un)subscriptions requested by app servers through the gateway. Applied only to a live
 * registration of the requesting project; anything else is ignored (logged), so that one project
 * cannot learn or change another's registrations. Idempotent: subscribing twice or unsubscribing
 * what is not there changes nothing. Invalid topic names are bad input (dead-lettered).
 */
@Injectable()
export class TopicSubscriptions {
  private readonly logger = new Logger('PushCoreTopicSubscriptions');

  constructor(
    private readonly db: PushDb,
    private readonly registrations: RegistrationRepository,
    private readonly clock: Clock,
  ) {}

  async handle(batch: readonly TopicSubscriptionRequestedV1[]): Promise<void> {
    for (const request of batch) {
      const invalid = request.topics.find((t) => !isValidTopicName(t));
      if (invalid !== undefined) throw new DomainError(ErrorCode.InvalidArgument, `invalid topic name "${invalid.slice(0, 64)}"`);
    }
    // In order: one registration's requests build on each other (they share a partition).
    await this.db.transaction(async (sql) => {
      const nowMs = this.clock.now();
      for (const request of batch) {
        const registration = await this.registrations.findLiveInProject(sql, request.projectId, request.registrationId);
        if (!registration) {
          this.logger.warn({ msg: 'topic subscription ignored: no such live registration in this project', requestId: request.requestId, projectId: request.projectId });
          continue;
        }
        const topics = [...new Set(request.topics)];
        if (request.op === 'unsubscribe') {
          await this.registrations.unsubscribe(sql, registration.id, topics);
        } else if ((await this.registrations.topicCountWith(sql, registration.id, topics)) > MAX_TOPICS_PER_REGISTRATION) {
          this.logger.warn({ msg: `topic subscription ignored: a registration holds at most ${MAX_TOPICS_PER_REGISTRATION} topics`, requestId: request.requestId });
        } else {
          await this.registrations.subscribe(sql, registration, topics, nowMs);
        }
      }
    });
  }
}
