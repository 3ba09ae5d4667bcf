import { Controller, Get, Param, Query } from '@nestjs/common';
import { decodeMessageCursor, DomainError, ErrorCode, ListableMessageState, type MessageListV1 } from '@borealis/contracts';
import { MessageListQuery } from './message-list.query';

/**
 * Cluster-internal: the gateway lists messages here in distributed mode, with parameters it has
 * validated (`state`, `since` in epoch ms, `limit`, `cursor`); anything else is a 400.
 */
@Controller('internal/v1/projects/:projectId/messages')
export class MessageListController {
  constructor(private readonly query: MessageListQuery) {}

  @Get()
  list(
    @Param('projectId') projectId: string,
    @Query('state') state: unknown,
    @Query('sinceMs') sinceMs: unknown,
    @Query('limit') limit: unknown,
    @Query('cursor') cursor: unknown,
  ): Promise<MessageListV1> {
    const parsedState = state === undefined ? undefined : ListableMessageState.safeParse(state);
    const since = sinceMs === undefined ? undefined : Number(sinceMs);
    const size = Number(limit);
    const after = cursor === undefined ? null : typeof cursor === 'string' ? decodeMessageCursor(cursor) : null;
    if (
      (parsedState !== undefined && !parsedState.success) ||
      (since !== undefined && !(Number.isSafeInteger(since) && since >= 0)) ||
      !(Number.isInteger(size) && size >= 1 && size <= 100) ||
      (cursor !== undefined && after === null)
    ) {
      throw new DomainError(ErrorCode.InvalidArgument, 'invalid listing parameters');
    }
    return this.query.list(projectId, { state: parsedState?.data, sinceMs: since, limit: size, after });
  }
}
