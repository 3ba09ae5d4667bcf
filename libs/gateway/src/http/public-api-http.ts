import { isUtf8 } from 'node:buffer';
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { DomainError, ErrorCode } from '@borealis/contracts';
import { ERROR_TYPE_BASE } from '@borealis/platform';
import type { FastifyInstance } from 'fastify';

export const PUBLIC_API_PREFIX = '/push/public/api/v1';

/**
 * Aurora clients that send a JSON body with only an `Accept` header (no Content-Type) are read as
 * JSON rather than refused with 415: the push API accepts nothing else. A Fastify hook rather than
 * a Nest middleware: middleware matching costs more than the rest of the check on every request.
 */
export function defaultJsonContentType(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, _reply, done) => {
    const headers = request.raw.headers;
    if (headers['content-type'] === undefined && request.url.startsWith(PUBLIC_API_PREFIX)) {
      const hasBody = headers['transfer-encoding'] !== undefined || (headers['content-length'] ?? '0') !== '0';
      if (hasBody) headers['content-type'] = 'application/json';
    }
    done();
  });
}

/**
 * JSON bodies of the push API must be valid UTF-8 (RFC 8259 §8.1): Fastify's own parser decodes
 * leniently, turning bad bytes into U+FFFD that would then reach a device as if the app server
 * had sent them. Other routes of the process keep the default behaviour.
 */
export function requireUtf8Json(fastify: FastifyInstance): void {
  const parseJson = fastify.getDefaultJsonParser('error', 'ignore');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer;
    if (request.url.startsWith(PUBLIC_API_PREFIX) && !isUtf8(bytes)) {
      done(new DomainError(ErrorCode.MalformedBody, 'request body is not valid UTF-8'), undefined);
      return;
    }
    parseJson(request, bytes.toString('utf8'), done);
  });
}

const CLIENT_ERROR_HANDLED = Symbol('borealis.clientErrorHandled');

/**
 * Requests that are not even valid HTTP (a CR or LF smuggled into a header, a malformed request
 * line, oversized headers) never reach a route; Node's parser refuses them. Answer those with
 * problem+json too, then close the connection, as the parser state is lost.
 */
export function answerUnparseableRequests(server: Server): void {
  const tagged = server as Server & { [CLIENT_ERROR_HANDLED]?: boolean };
  if (tagged[CLIENT_ERROR_HANDLED]) return;
  tagged[CLIENT_ERROR_HANDLED] = true;
  server.removeAllListeners('clientError');
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const status = tooLarge ? 431 : 400;
    const code = tooLarge ? ErrorCode.PayloadTooLarge : ErrorCode.InvalidArgument;
    const body = JSON.stringify({
      type: ERROR_TYPE_BASE + code,
      title: tooLarge ? 'Request header fields too large' : 'Bad request',
      status,
      detail: tooLarge ? 'the request headers exceed the size limit' : `the request is not valid HTTP (${err.code ?? 'parse error'})`,
      code,
    });
    socket.end(
      `HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
        `Content-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
