import { Body, Controller, Get, HttpCode, Param, Post, Res, UseGuards } from '@nestjs/common';
import { DomainError, ErrorCode, type MessageStatusV1 } from '@borealis/contracts';
import { isUuid } from '@borealis/util';
import type { FastifyReply } from 'fastify';
import { AccessGuard, RequiredScope } from './access/access.guard';
import { ProjectRegistryView, type ProjectInfo } from './registry/project-registry.view';
import { SendMessageService } from './send/send-message.service';
import { MessageStatusReader } from './status/message-status-reader';

/** The Aurora-compatible application-server API. */
@Controller('push/public/api/v1/projects/:projectId')
@UseGuards(AccessGuard)
export class PushApiController {
  constructor(
    private readonly sender: SendMessageService,
    private readonly registry: ProjectRegistryView,
    private readonly statuses: MessageStatusReader,
  ) {}

  @Post('messages')
  @HttpCode(200)
  @RequiredScope('message:update')
  send(@Param('projectId') projectId: string, @Body() body: unknown, @Res({ passthrough: true }) reply: FastifyReply): Promise<{ id: string }> {
    return this.sender.send(projectId, body, (decision) => {
      reply.header('RateLimit-Limit', decision.limit).header('RateLimit-Remaining', decision.remaining);
    });
  }

  @Get()
  @RequiredScope('project:read')
  getProject(@Param('projectId') projectId: string): ProjectInfo {
    return this.registry.describe(projectId);
  }

  @Get('messages/:messageId')
  @RequiredScope('project:read')
  async getMessageStatus(@Param('projectId') projectId: string, @Param('messageId') messageId: string): Promise<MessageStatusV1> {
    // Message ids are UUIDs minted here; anything else cannot exist, so push-core is not asked.
    const status = isUuid(messageId) ? await this.statuses.getStatus(projectId, messageId) : null;
    if (!status) throw new DomainError(ErrorCode.NotFound, `message ${messageId} not found in project ${projectId}`);
    return status;
  }
}
