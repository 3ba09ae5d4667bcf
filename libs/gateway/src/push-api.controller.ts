import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import { DomainError, ErrorCode, type MessageListV1, type MessageStatusV1, type ProjectStatsV1, type RegistrationInfoV1, type RegistrationTopicsV1, type SubscriptionResponse } from '@borealis/contracts';
import { Clock, isUuid } from '@borealis/util';
import type { FastifyReply } from 'fastify';
import { AccessGuard, RequiredScope } from './access/access.guard';
import { answerIdempotencyKeyReused, IdempotencyKeyReusedError } from './idempotency/idempotency-key-reused';
import { MessageCancelService } from './cancel/message-cancel.service';
import { RegistrationManagementService } from './registrations/registration-management.service';
import { ProjectRegistryView, type ProjectInfo } from './registry/project-registry.view';
import { setRateLimitHeaders } from './rate-limit/rate-limit-headers';
import { MulticastService, type MulticastResult } from './send/multicast.service';
import { ProjectStatsReader } from './stats/project-stats-reader';
import { parseStatsRange } from './stats/stats-range';
import { parseMessageListParams } from './status/message-list-params';
import { MessageListReader } from './status/message-list-reader';
import { MessageStatusReader } from './status/message-status-reader';
import { TopicSubscriptionService } from './subscriptions/topic-subscription.service';

/** The Aurora-compatible application-server API (docs/api.md); sending is `SendRoute`. */
@Controller('push/public/api/v1/projects/:projectId')
@UseGuards(AccessGuard)
export class PushApiController {
  constructor(
    private readonly registry: ProjectRegistryView,
    private readonly statuses: MessageStatusReader,
    private readonly listings: MessageListReader,
    private readonly stats: ProjectStatsReader,
    private readonly subscriptions: TopicSubscriptionService,
    private readonly cancels: MessageCancelService,
    private readonly registrations: RegistrationManagementService,
    private readonly multicast: MulticastService,
    private readonly clock: Clock,
  ) {}

  @Get()
  @RequiredScope('project:read')
  getProject(@Param('projectId') projectId: string): ProjectInfo {
    return this.registry.describe(projectId);
  }

  /** One notification to up to 1,000 registrations (docs/api.md, "Multicast"); 200 when durable. */
  @Post('messages/multicast')
  @HttpCode(200)
  @RequiredScope('message:update')
  async sendMulticast(@Param('projectId') projectId: string, @Body() body: unknown, @Res() reply: FastifyReply): Promise<FastifyReply> {
    const key = reply.request.headers['idempotency-key'];
    let result: MulticastResult;
    try {
      result = await this.multicast.send(projectId, body, (outcome) => setRateLimitHeaders(reply, outcome), reply.request.id, typeof key === 'string' ? key : undefined);
    } catch (err) {
      if (err instanceof IdempotencyKeyReusedError) return answerIdempotencyKeyReused(reply.request, reply, err);
      throw err;
    }
    const { replayed, ...answer } = result;
    if (replayed) void reply.header('Idempotent-Replayed', 'true');
    return reply.status(200).send(answer);
  }

  /** Newest first, a page at a time (docs/api.md): `state`, `since`, `limit`, `cursor`. */
  @Get('messages')
  @RequiredScope('project:read')
  listMessages(@Param('projectId') projectId: string, @Query() query: Record<string, unknown>): Promise<MessageListV1> {
    return this.listings.list(projectId, parseMessageListParams(query));
  }

  @Get('messages/:messageId')
  @RequiredScope('project:read')
  async getMessageStatus(@Param('projectId') projectId: string, @Param('messageId') messageId: string): Promise<MessageStatusV1> {
    // Message ids are UUIDs minted here; anything else cannot exist, so push-core is not asked.
    const status = isUuid(messageId) ? await this.statuses.getStatus(projectId, messageId) : null;
    if (!status) throw new DomainError(ErrorCode.NotFound, `message ${messageId} not found in project ${projectId}`);
    return status;
  }

  /** 200 once push-core applied the cancel, 202 when it is durable but not applied within a few seconds. */
  @Delete('messages/:messageId')
  @RequiredScope('message:update')
  async cancelMessage(
    @Param('projectId') projectId: string,
    @Param('messageId') messageId: string,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<MessageStatusV1> {
    const { applied, status } = await this.cancels.cancel(projectId, messageId, reply.request.id);
    if (!applied) void reply.status(202);
    return status;
  }

  @Get('stats')
  @RequiredScope('project:read')
  getStats(@Param('projectId') projectId: string, @Query('from') from: unknown, @Query('to') to: unknown): Promise<ProjectStatsV1> {
    const range = parseStatsRange(from, to, this.clock.now());
    return this.stats.getStats(projectId, range.from, range.to);
  }

  @Get('registrations/:registrationId')
  @RequiredScope('project:read')
  getRegistration(@Param('projectId') projectId: string, @Param('registrationId') registrationId: string): Promise<RegistrationInfoV1> {
    return this.registrations.get(projectId, registrationId);
  }

  @Get('registrations/:registrationId/topics')
  @RequiredScope('project:read')
  getRegistrationTopics(@Param('projectId') projectId: string, @Param('registrationId') registrationId: string): Promise<RegistrationTopicsV1> {
    return this.registrations.topics(projectId, registrationId);
  }

  /** 200 once push-core unregistered it (or it was gone already), 202 when durable but not applied within a few seconds. */
  @Delete('registrations/:registrationId')
  @RequiredScope('message:update')
  async unregister(
    @Param('projectId') projectId: string,
    @Param('registrationId') registrationId: string,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<RegistrationInfoV1> {
    const { applied, registration } = await this.registrations.unregister(projectId, registrationId, reply.request.id);
    if (!applied) void reply.status(202);
    return registration;
  }

  @Post('registrations/:registrationId/topics/:topic')
  @HttpCode(202)
  @RequiredScope('message:update')
  subscribe(@Param('projectId') projectId: string, @Param('registrationId') registrationId: string, @Param('topic') topic: string): Promise<SubscriptionResponse> {
    return this.subscriptions.request(projectId, registrationId, topic, 'subscribe');
  }

  @Delete('registrations/:registrationId/topics/:topic')
  @HttpCode(202)
  @RequiredScope('message:update')
  unsubscribe(@Param('projectId') projectId: string, @Param('registrationId') registrationId: string, @Param('topic') topic: string): Promise<SubscriptionResponse> {
    return this.subscriptions.request(projectId, registrationId, topic, 'unsubscribe');
  }
}
