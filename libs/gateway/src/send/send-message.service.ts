import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { DomainError, ErrorCode, type MessageAcceptedV1 } from '@borealis/contracts';
import { labelChildren, Metrics } from '@borealis/platform';
import { Clock, uuidv7 } from '@borealis/util';
import { DEFAULT_IDEMPOTENCY_TTL_SECONDS, GATEWAY_OPTIONS, type GatewayModuleOptions } from '../gateway-options';
import { IdempotencyStore } from '../idempotency/idempotency-store';
import { checkIdempotencyKey, IdempotentRequests } from '../idempotency/idempotent-requests';
import { RequestLimits, type LimitOutcome } from '../rate-limit/request-limits';
import { AcceptedPublisher } from './accepted-publisher';
import { parseSendRequest, type SendRequest } from './send-request';

/** What a send needs to know of its HTTP request. */
export interface SendContext {
  idempotencyKey?: string | undefined;
  /** Carried in the published record's headers and in log lines (passed explicitly: see `Correlation`). */
  requestId?: string | undefined;
  /** Sees the project limiter's decision, refused or not (for the RateLimit headers). */
  onRateLimit: (outcome: LimitOutcome) => void;
  /** Sees the IP limiter's decision on the fast path (`sendPreauthorized`). */
  onIpOutcome?: (outcome: LimitOutcome) => void;
}

export interface SendResult {
  id: string;
  /** True when an Idempotency-Key retry was answered from the first request's result. */
  replayed: boolean;
}

const ignore = (): void => undefined;

/**
 * Accepts an app server's message: validate, honour an Idempotency-Key, take from the project's
 * quota, and publish it to push-core. The id is returned only once the bus has made the message
 * durable. The caller (the access guard) has already checked the token and the project.
 */
@Injectable()
export class SendMessageService {
  private readonly logger = new Logger(SendMessageService.name);
  private readonly idempotent: IdempotentRequests;
  private readonly acceptedOfType: ((type: string) => { inc(): void }) | undefined;
  private readonly rejectedWithCode: ((code: string) => { inc(): void }) | undefined;

  constructor(
    private readonly publisher: AcceptedPublisher,
    private readonly limits: RequestLimits,
    idempotency: IdempotencyStore,
    private readonly clock: Clock,
    @Inject(GATEWAY_OPTIONS) options: GatewayModuleOptions,
    @Optional() metrics?: Metrics,
  ) {
    this.idempotent = new IdempotentRequests(idempotency, options.idempotencyTtlSeconds ?? DEFAULT_IDEMPOTENCY_TTL_SECONDS, this.logger);
    this.acceptedOfType = metrics && labelChildren(metrics.messagesAccepted);
    this.rejectedWithCode = metrics && labelChildren(metrics.messagesRejected);
  }

  /**
   * Sends for a request that passed authorization. `onRateLimit` sees the project limiter's
   * decision, refused or not (for the RateLimit headers).
   */
  async send(projectId: string, body: unknown, request: SendContext): Promise<SendResult> {
    try {
      return await this.trySend(projectId, body, request);
    } catch (err) {
      this.countRefusal(err);
      throw err;
    }
  }

  /**
   * The send route's fast path, for a request that passed every authorization check except the
   * client IP's rate limit (see `RequestAuthorizer.passesWithoutIpLimit`) and carries no
   * Idempotency-Key: the IP's and the project's limits in one round trip, then the publish.
   * Undefined, with nothing taken, when the body is invalid: the caller then goes the usual way,
   * which takes the IP's limit before it reports the body (the same answer either way).
   */
  sendPreauthorized(projectId: string, body: unknown, ip: string, request: SendContext): Promise<SendResult> | undefined {
    let parsed: SendRequest;
    try {
      parsed = parseSendRequest(body, this.clock.now());
    } catch {
      return undefined;
    }
    const take = () => this.limits.takeIpThenProject(ip, projectId, request.onIpOutcome ?? ignore, request.onRateLimit);
    return this.accept(projectId, parsed, take, request.requestId).then(
      (id) => ({ id, replayed: false }),
      (err: unknown) => {
        this.countRefusal(err);
        throw err;
      },
    );
  }

  /** Counts a refused send (authorization refusals happen before `send`). */
  countRefusal(err: unknown): void {
    if (err instanceof DomainError) this.rejectedWithCode?.(err.code).inc();
  }

  private async trySend(projectId: string, body: unknown, { idempotencyKey, requestId, onRateLimit }: SendContext): Promise<SendResult> {
    const take = () => this.limits.takeProject(projectId, onRateLimit);
    if (idempotencyKey !== undefined) checkIdempotencyKey(idempotencyKey);
    const request = parseSendRequest(body, this.clock.now());
    if (idempotencyKey === undefined) return { id: await this.accept(projectId, request, take, requestId), replayed: false };
    // Keys are per project: two projects may well pick the same one.
    const { answer, replayed } = await this.idempotent.run(projectId, idempotencyKey, request, () => this.accept(projectId, request, take, requestId), { requestId, projectId });
    return { id: answer, replayed };
  }

  /** `takeLimits` takes the project's quota (and, on the fast path, the IP's limit before it). */
  private async accept(projectId: string, request: SendRequest, takeLimits: () => Promise<void>, requestId: string | undefined): Promise<string> {
    await takeLimits();
    const acceptedAtMs = this.clock.now();
    const event: MessageAcceptedV1 = {
      messageId: uuidv7(acceptedAtMs),
      projectId,
      ...request,
      acceptedAtMs,
      expiresAtMs: acceptedAtMs + request.ttlSeconds * 1000,
    };
    try {
      await this.publisher.publish(event, requestId);
    } catch (err) {
      this.logger.warn({ msg: 'message not durable', requestId, projectId, messageId: event.messageId, error: String(err) });
      throw new DomainError(ErrorCode.Unavailable, 'the message could not be made durable; retry', { retryAfterSeconds: 1 });
    }
    this.acceptedOfType?.(request.target.type).inc();
    return event.messageId;
  }
}
