import { Inject, Injectable, Logger } from '@nestjs/common';
import { DomainError, ErrorCode, REGISTRATION_ID_MAX_CHARS, type MessageAcceptedV1, type MulticastRecipient, type MulticastResponse } from '@borealis/contracts';
import { Clock, uuidv7 } from '@borealis/util';
import { DEFAULT_IDEMPOTENCY_TTL_SECONDS, GATEWAY_OPTIONS, type GatewayModuleOptions } from '../gateway-options';
import { IdempotencyStore } from '../idempotency/idempotency-store';
import { checkIdempotencyKey, IdempotentRequests } from '../idempotency/idempotent-requests';
import { RequestLimits, type LimitOutcome } from '../rate-limit/request-limits';
import { RegistrationReader } from '../registrations/registration-reader';
import { AcceptedPublisher } from './accepted-publisher';
import { isValidTopicName, parseMulticastRequest, type MulticastSendRequest } from './send-request';

/** The answer (`MulticastResponse`: the message id, or null when no recipient was accepted, and each id's outcome). */
export interface MulticastResult extends MulticastResponse {
  /** True when an Idempotency-Key retry was answered from the first request's result. */
  replayed?: boolean;
}

/**
 * `POST /projects/{id}/messages/multicast` (a Borealis extension beside the Aurora send): one
 * notification to up to 1,000 registration ids, one message id. Each id is judged on its own: a
 * malformed one is `invalid_argument`, one that is not a live registration of this project
 * (unknown, gone, or another project's: the same answer, so nothing leaks) is `not_found`; the
 * others are accepted. The project's quota is taken once per accepted recipient, then the message
 * is published like any send: the 200 means durable.
 */
@Injectable()
export class MulticastService {
  private readonly logger = new Logger(MulticastService.name);
  private readonly idempotent: IdempotentRequests;

  constructor(
    private readonly publisher: AcceptedPublisher,
    private readonly limits: RequestLimits,
    private readonly registrations: RegistrationReader,
    private readonly clock: Clock,
    idempotency: IdempotencyStore,
    @Inject(GATEWAY_OPTIONS) options: GatewayModuleOptions,
  ) {
    this.idempotent = new IdempotentRequests(idempotency, options.idempotencyTtlSeconds ?? DEFAULT_IDEMPOTENCY_TTL_SECONDS, this.logger);
  }

  /**
   * With an Idempotency-Key, a retry with the same body gets the first request's whole answer
   * (`replayed`) and sends nothing; keys are apart from the single send's.
   */
  async send(projectId: string, body: unknown, onRateLimit: (outcome: LimitOutcome) => void, requestId?: string, idempotencyKey?: string): Promise<MulticastResult> {
    if (idempotencyKey !== undefined) checkIdempotencyKey(idempotencyKey);
    const { registrationIds: ids, request } = parseMulticastRequest(body, this.clock.now());
    if (idempotencyKey === undefined) return this.accept(projectId, ids, request, onRateLimit, requestId);
    const { answer, replayed } = await this.idempotent.run(
      `${projectId}/multicast`,
      idempotencyKey,
      { ids, request },
      async () => JSON.stringify(await this.accept(projectId, ids, request, onRateLimit, requestId)),
      { requestId, projectId },
    );
    return { ...(JSON.parse(answer) as MulticastResult), replayed };
  }

  private async accept(projectId: string, ids: string[], request: MulticastSendRequest['request'], onRateLimit: (outcome: LimitOutcome) => void, requestId: string | undefined): Promise<MulticastResult> {

    const recipients: MulticastRecipient[] = [];
    const wellFormed: string[] = [];
    const seen = new Set<string>();
    for (const id of ids) {
      if (seen.has(id)) continue;
      seen.add(id);
      if (id.length > REGISTRATION_ID_MAX_CHARS || !isValidTopicName(id)) {
        recipients.push({ registrationId: id, status: 'rejected', code: 'invalid_argument', detail: `must be a registrationId: 1 to ${REGISTRATION_ID_MAX_CHARS} letters, digits or -_.~%` });
      } else {
        wellFormed.push(id);
        recipients.push({ registrationId: id, status: 'accepted' });
      }
    }
    const live = wellFormed.length > 0 ? await this.registrations.liveOf(projectId, wellFormed) : new Set<string>();
    for (const [i, recipient] of recipients.entries()) {
      if (recipient.status === 'accepted' && !live.has(recipient.registrationId)) {
        recipients[i] = { registrationId: recipient.registrationId, status: 'rejected', code: 'not_found', detail: 'no live registration with this id in this project' };
      }
    }
    const accepted = recipients.filter((r) => r.status === 'accepted').map((r) => r.registrationId);
    if (accepted.length === 0) return { id: null, recipients };

    await this.limits.takeProject(projectId, onRateLimit, accepted.length);
    const acceptedAtMs = this.clock.now();
    const event: MessageAcceptedV1 = {
      messageId: uuidv7(acceptedAtMs),
      projectId,
      target: { type: 'registrations', value: String(accepted.length) },
      registrationIds: accepted,
      notification: request.notification,
      ttlSeconds: request.ttlSeconds,
      priority: request.priority,
      collapseKey: request.collapseKey,
      acceptedAtMs,
      expiresAtMs: acceptedAtMs + request.ttlSeconds * 1000,
      ...(request.sendAtMs !== undefined ? { sendAtMs: request.sendAtMs } : {}),
    };
    try {
      await this.publisher.publish(event, requestId);
    } catch (err) {
      this.logger.warn({ msg: 'multicast not durable', requestId, projectId, messageId: event.messageId, error: String(err) });
      throw new DomainError(ErrorCode.Unavailable, 'the message could not be made durable; retry', { retryAfterSeconds: 1 });
    }
    return { id: event.messageId, recipients };
  }
}
