import { Body, Controller, Get, Headers, Optional, Param, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  DomainError,
  ErrorCode,
  MessageListQuery,
  parseMessageListParams,
  parseStatsRange,
  SendMessageRequest,
  StatsQuery,
  type MessageListV1,
  type MessageStatusV1,
  type ProjectStatsV1,
} from '@borealis/contracts';
import { Clock, isUuid } from '@borealis/util';
import { OperatorOnly, RequireRole, type Actor } from '../access/access';
import { AccessGuard, Caller } from '../access/access.guard';
import { Operation } from '../admin/operation';
import { OperatorOverviewService, type OperatorOverview } from './operator-overview.service';
import { PushCoreReads } from './push-core-reads';
import { ConsoleTestSend } from './test-send.service';

/**
 * What the console needs from the push side, as management routes (docs/auth.md, "Console
 * routes"): the same bodies as the push API (docs/api.md), for a session or the operator instead
 * of an app server's access token. Reads go to push-core (`PushCoreReads`); the test send goes
 * through the gateway's public send route (`ConsoleTestSend`).
 */
@Controller('auth/admin/v1')
@UseGuards(AccessGuard)
export class ConsolePushController {
  constructor(
    private readonly testSend: ConsoleTestSend,
    private readonly overviews: OperatorOverviewService,
    private readonly clock: Clock,
    @Optional() private readonly reads?: PushCoreReads,
  ) {}

  @Get('projects/:projectId/messages')
  @RequireRole('viewer')
  @Operation("The project's messages, newest first, a page at a time (as GET /push/public/api/v1/projects/{id}/messages)", { query: queryDoc(MessageListQuery) })
  listMessages(@Param('projectId') projectId: string, @Query() query: Record<string, unknown>): Promise<MessageListV1> {
    return this.pushCore().listMessages(projectId, parseMessageListParams(query));
  }

  @Get('projects/:projectId/messages/:messageId')
  @RequireRole('viewer')
  @Operation("A message's state, counts per state and recipients (as the push API's message status)")
  async getMessageStatus(@Param('projectId') projectId: string, @Param('messageId') messageId: string): Promise<MessageStatusV1> {
    // Message ids are UUIDs the gateway minted; anything else cannot exist.
    const status = isUuid(messageId) ? await this.pushCore().getStatus(projectId, messageId) : null;
    if (!status) throw new DomainError(ErrorCode.NotFound, `message ${messageId} not found in project ${projectId}`);
    return status;
  }

  @Post('projects/:projectId/messages')
  @RequireRole('developer')
  @Operation("A test send: the push API's send body and answer, through the gateway's send route (validation, quota, Idempotency-Key, 200 once durable)", { body: SendMessageRequest })
  async send(
    @Caller() actor: Actor,
    @Param('projectId') projectId: string,
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const answer = await this.testSend.send(actor, projectId, body, idempotencyKey, request.id);
    // A refusal's `instance` names the request the caller made, not the gateway route it went on to.
    const problem = answer.body as { instance?: unknown } | undefined;
    if (answer.status >= 400 && problem !== null && typeof problem === 'object' && typeof problem.instance === 'string') problem.instance = request.url.split('?')[0];
    void reply.status(answer.status).headers(answer.headers).send(answer.body);
  }

  @Get('projects/:projectId/stats')
  @RequireRole('viewer')
  @Operation('Per-day counts: accepted, delivered, expired, failed, cancelled (as the push API\'s stats)', { query: queryDoc(StatsQuery) })
  getStats(@Param('projectId') projectId: string, @Query('from') from: unknown, @Query('to') to: unknown): Promise<ProjectStatsV1> {
    const range = parseStatsRange(from, to, this.clock.now());
    return this.pushCore().getStats(projectId, range.from, range.to);
  }

  @Get('operator/overview')
  @OperatorOnly()
  @Operation("Each service's readiness and the key figures of /metrics (pushes accepted, deliveries by state, connected devices, bus lag ...)")
  overview(): Promise<OperatorOverview> {
    return this.overviews.overview();
  }

  private pushCore(): PushCoreReads {
    if (!this.reads) throw new DomainError(ErrorCode.Unavailable, 'message and statistics reads are not configured on this server (PUSH_CORE_URL is not set on auth)');
    return this.reads;
  }
}

/** The query parameters of a schema, for the OpenAPI document. */
function queryDoc(schema: { shape: Record<string, { description?: string | undefined }> }): Record<string, string> {
  return Object.fromEntries(Object.entries(schema.shape).map(([name, field]) => [name, field.description ?? name]));
}
