import { Controller, Get, Param } from '@nestjs/common';
import { DomainError, ErrorCode, type MessageStatusV1 } from '@borealis/contracts';
import { MessageStatusQuery } from './message-status.query';

/** Cluster-internal: the gateway reads statuses here in distributed mode. Never exposed publicly. */
@Controller('internal/v1/projects/:projectId/messages')
export class MessageStatusController {
  constructor(private readonly query: MessageStatusQuery) {}

  @Get(':messageId')
  async get(@Param('projectId') projectId: string, @Param('messageId') messageId: string): Promise<MessageStatusV1> {
    const status = await this.query.getStatus(projectId, messageId);
    if (!status) throw new DomainError(ErrorCode.NotFound, 'no such message in this project');
    return status;
  }
}
