import { Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { SendMessageResponse } from '@borealis/contracts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RequestAuthorizer } from '../access/access.guard';
import { PUBLIC_API_PREFIX } from '../http/public-api-http';
import { jsonSchemaOf } from '../openapi/json-schema';
import { answerIdempotencyKeyReused, IdempotencyKeyReusedError } from '../idempotency/idempotency-key-reused';
import { setRateLimitHeaders } from '../rate-limit/rate-limit-headers';
import { SendMessageService, type SendContext } from './send-message.service';

type SendRequest = FastifyRequest<{ Params: { projectId: string } }>;

/** The answer is serialized by a function compiled from its schema (libs/contracts), not by JSON.stringify. */
const SENT = jsonSchemaOf(SendMessageResponse);

/**
 * `POST /projects/{project_id}/messages` (docs/api.md), the hot path, as a plain Fastify route
 * rather than a controller method: Nest's per-request machinery (execution context, guard and
 * interceptor chains, parameter pipes, response controller) cost more CPU than the send itself.
 * The same authorization as the controller's guard, the same validation, answers and errors: a
 * thrown error reaches the platform's exception filter through Nest's Fastify error handler.
 */
@Injectable()
export class SendRoute implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly authorizer: RequestAuthorizer,
    private readonly sender: SendMessageService,
  ) {}

  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter) return;
    adapter
      .getInstance<FastifyInstance>()
      .post(`${PUBLIC_API_PREFIX}/projects/:projectId/messages`, { schema: { response: { 200: SENT } } }, (request: SendRequest, reply) => this.send(request, reply));
  }

  private async send(request: SendRequest, reply: FastifyReply): Promise<{ id: string } | FastifyReply> {
    const projectId = request.params.projectId;
    const key = request.headers['idempotency-key'];
    const context: SendContext = {
      idempotencyKey: typeof key === 'string' ? key : undefined,
      requestId: request.id,
      onRateLimit: (outcome) => setRateLimitHeaders(reply, outcome),
      onIpOutcome: (outcome) => {
        if (!outcome.decision.allowed) setRateLimitHeaders(reply, outcome);
      },
    };
    // Fast path: a token verified before, every check but the IP's limit passed, no
    // Idempotency-Key, a valid body: both limits in one round trip. Otherwise the usual order,
    // cheapest check first (the IP's limit before the token is even verified).
    if (key === undefined && this.authorizer.passesWithoutIpLimit(request, 'message:update')) {
      const sent = this.sender.sendPreauthorized(projectId, request.body, request.ip, context);
      if (sent) return { id: (await sent).id };
    }
    try {
      // The one route that also takes auth's console send token (the console's test send).
      await this.authorizer.authorize(request, reply, 'message:update', { consoleSend: true });
    } catch (err) {
      this.sender.countRefusal(err);
      throw err;
    }
    try {
      const { id, replayed } = await this.sender.send(projectId, request.body, context);
      if (replayed) void reply.header('Idempotent-Replayed', 'true');
      return { id };
    } catch (err) {
      if (err instanceof IdempotencyKeyReusedError) return answerIdempotencyKeyReused(request, reply, err);
      throw err;
    }
  }
}
