import { DomainError, ErrorCode } from '@borealis/contracts';
import { ERROR_TYPE_BASE } from '@borealis/platform';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** An Idempotency-Key reused with another request body: code `conflict`, answered 422 (not 409). */
export class IdempotencyKeyReusedError extends DomainError {
  constructor(key: string) {
    super(ErrorCode.Conflict, `Idempotency-Key "${key}" was already used with a different request body; use a new key for a new message`);
  }
}

/**
 * The one place where a catalogue code has a second HTTP status: the IETF Idempotency-Key draft
 * answers a reused key with 422, while every other `conflict` is a 409. Same problem+json shape as
 * the platform's mapper.
 */
export function answerIdempotencyKeyReused(request: FastifyRequest, reply: FastifyReply, error: IdempotencyKeyReusedError): FastifyReply {
  return reply
    .status(422)
    .header('content-type', 'application/problem+json')
    .send({
      type: ERROR_TYPE_BASE + error.code,
      title: 'Idempotency-Key reused',
      status: 422,
      detail: error.message,
      code: error.code,
      instance: request.url.split('?')[0],
    });
}
