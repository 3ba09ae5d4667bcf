import { Inject, Injectable, Logger } from '@nestjs/common';
import { DomainError, ErrorCode, Topics, type MessageAcceptedV1 } from '@borealis/contracts';
import { RateLimiter, type RateLimitDecision } from '@borealis/keyvalue';
import { MessageBus } from '@borealis/messaging';
import { Clock, uuidv7 } from '@borealis/util';
import { GATEWAY_OPTIONS, type GatewayModuleOptions } from '../gateway-options';
import { ProjectRegistryView } from '../registry/project-registry.view';
import { parseSendRequest } from './send-request';

/**
 * Accepts an app server's message: validate, check the project, rate-limit, and publish it to
 * push-core. The id is returned only once the bus has made the message durable.
 */
@Injectable()
export class SendMessageService {
  private readonly logger = new Logger(SendMessageService.name);

  constructor(
    private readonly bus: MessageBus,
    private readonly limiter: RateLimiter,
    private readonly clock: Clock,
    private readonly registry: ProjectRegistryView,
    @Inject(GATEWAY_OPTIONS) private readonly options: GatewayModuleOptions,
  ) {}

  /** `onRateLimit` sees the limiter's decision, refused or not (for the RateLimit-* headers). */
  async send(projectId: string, body: unknown, onRateLimit: (decision: RateLimitDecision) => void): Promise<{ id: string }> {
    const request = parseSendRequest(body);
    this.registry.assertActive(projectId);

    const { perSecond, burst } = this.options.rateLimit;
    const decision = await this.limiter.take(`project:${projectId}`, burst, perSecond).catch((err: unknown) => {
      this.logger.warn({ msg: 'rate limiter failed', projectId, error: String(err) });
      throw new DomainError(ErrorCode.Unavailable, 'the message cannot be accepted now; retry', { retryAfterSeconds: 1 });
    });
    onRateLimit(decision);
    if (!decision.allowed) {
      throw new DomainError(ErrorCode.RateLimited, `project ${projectId} exceeds its limit of ${perSecond} messages per second (burst ${burst})`, {
        retryAfterSeconds: decision.retryAfterSeconds,
      });
    }

    const acceptedAtMs = this.clock.now();
    const event: MessageAcceptedV1 = {
      messageId: uuidv7(acceptedAtMs),
      projectId,
      ...request,
      acceptedAtMs,
      expiresAtMs: acceptedAtMs + request.ttlSeconds * 1000,
    };
    try {
      await this.bus.publish(Topics.messageAccepted, [{ value: event }]);
    } catch (err) {
      this.logger.warn({ msg: 'message not durable', projectId, messageId: event.messageId, error: String(err) });
      throw new DomainError(ErrorCode.Unavailable, 'the message could not be made durable; retry', { retryAfterSeconds: 1 });
    }
    return { id: event.messageId };
  }
}
