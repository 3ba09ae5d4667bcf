import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { DomainError, ErrorCode, OAuthError } from '@borealis/contracts';

/** The one HTTP mapper of the error catalogue. The compiler keeps it total. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  [ErrorCode.InvalidArgument]: 400,
  [ErrorCode.MalformedBody]: 400,
  [ErrorCode.PayloadTooLarge]: 413,
  [ErrorCode.UnsupportedMediaType]: 415,
  [ErrorCode.Unauthenticated]: 401,
  [ErrorCode.PermissionDenied]: 403,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.Conflict]: 409,
  [ErrorCode.FailedPrecondition]: 409,
  [ErrorCode.RateLimited]: 429,
  [ErrorCode.Unavailable]: 503,
  [ErrorCode.Internal]: 500,
};

const TITLES: Record<ErrorCode, string> = {
  [ErrorCode.InvalidArgument]: 'Invalid argument',
  [ErrorCode.MalformedBody]: 'Malformed body',
  [ErrorCode.PayloadTooLarge]: 'Payload too large',
  [ErrorCode.UnsupportedMediaType]: 'Unsupported media type',
  [ErrorCode.Unauthenticated]: 'Unauthenticated',
  [ErrorCode.PermissionDenied]: 'Permission denied',
  [ErrorCode.NotFound]: 'Not found',
  [ErrorCode.Conflict]: 'Conflict',
  [ErrorCode.FailedPrecondition]: 'Failed precondition',
  [ErrorCode.RateLimited]: 'Too many requests',
  [ErrorCode.Unavailable]: 'Service unavailable',
  [ErrorCode.Internal]: 'Internal error',
};

export const ERROR_TYPE_BASE = 'https://borealis.dev/errors/';

/**
 * Turns every failure into RFC 9457 problem+json (or, for the OAuth2 token endpoint, the RFC 6749
 * error object). Errors thrown by Fastify itself (unparseable JSON, body too large, wrong content
 * type) and Nest's own (unknown route) are mapped to catalogue codes too. A 500 carries an error id
 * that is also logged, never the error's text.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const request = ctx.getRequest<FastifyRequest>();

    if (exception instanceof OAuthError) {
      reply.status(exception.status).header('cache-control', 'no-store').header('content-type', 'application/json');
      if (exception.status === 401) reply.header('www-authenticate', 'Basic realm="token"');
      void reply.send({ error: exception.error, error_description: exception.description });
      return;
    }

    const error = toDomainError(exception);
    const status = HTTP_STATUS[error.code];
    const body: Record<string, unknown> = {
      type: ERROR_TYPE_BASE + error.code,
      title: TITLES[error.code],
      status,
      detail: error.message,
      code: error.code,
      instance: request.url.split('?')[0],
    };
    if (error.details.fields) body['errors'] = error.details.fields;
    if (error.code === ErrorCode.Internal) {
      const errorId = randomUUID();
      body['errorId'] = errorId;
      body['detail'] = `internal error; quote error id ${errorId}`;
      this.logger.error({ msg: 'unhandled error', errorId, requestId: request.id, method: request.method, url: body['instance'], error: describe(exception) });
    }
    if (error.details.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.details.retryAfterSeconds));
    if (error.code === ErrorCode.Unauthenticated && !reply.hasHeader('www-authenticate')) reply.header('www-authenticate', 'Bearer');
    reply.status(status).header('content-type', 'application/problem+json');
    void reply.send(body);
  }
}

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  message?: string;
}

export function toDomainError(exception: unknown): DomainError {
  if (exception instanceof DomainError) return exception;
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    if (status === 404) return new DomainError(ErrorCode.NotFound, 'no such route');
    if (status === 413) return new DomainError(ErrorCode.PayloadTooLarge, 'request body too large');
    if (status === 415) return new DomainError(ErrorCode.UnsupportedMediaType, 'unsupported content type');
    // Nest wraps Fastify's body-parsing errors (invalid or empty JSON, bad content length) in a
    // plain 400 HttpException; Borealis code itself never throws HttpExceptions.
    if (status === 400) return new DomainError(ErrorCode.MalformedBody, `request body could not be parsed: ${exception.message}`);
  }
  const err = exception as FastifyLikeError;
  switch (err?.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new DomainError(ErrorCode.MalformedBody, 'request body is not valid JSON');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new DomainError(ErrorCode.PayloadTooLarge, 'request body exceeds the size limit');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return new DomainError(ErrorCode.UnsupportedMediaType, 'unsupported content type; send application/json');
  }
  if (err instanceof SyntaxError) return new DomainError(ErrorCode.MalformedBody, 'request body is not valid JSON');
  if (typeof err?.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return new DomainError(ErrorCode.InvalidArgument, err.message ?? 'bad request');
  }
  return new DomainError(ErrorCode.Internal, 'internal error');
}

function describe(exception: unknown): string {
  if (exception instanceof Error) return `${exception.name}: ${exception.message}\n${exception.stack ?? ''}`;
  return String(exception);
}
