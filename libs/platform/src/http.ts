import { Logger, type INestApplication, type Type, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ErrorCode, Limits } from '@borealis/contracts';
import { Correlation, REQUEST_ID_HEADER } from '@borealis/messaging';
import type { TrustProxy } from './config';
import { useLeanAsyncResourceBind } from './lean-async-bind';
import { createLogger, logFormat, PinoLoggerService, prettyDestination } from './logging';
import { labelChildren, Metrics } from './metrics';
import { ERROR_TYPE_BASE, ProblemDetailsFilter } from './problem-details.filter';

/**
 * The Nest logger of a service through pino, level from LOG_LEVEL: JSON lines on stdout, or
 * readable colored lines when stdout is a terminal (LOG_FORMAT overrides: json or pretty).
 */
export function jsonLogger(service = 'borealis'): PinoLoggerService {
  const isTty = process.stdout.isTTY === true;
  const pretty = logFormat(process.env['LOG_FORMAT'], isTty) === 'pretty';
  return new PinoLoggerService(createLogger({ service, level: process.env['LOG_LEVEL'], ...(pretty ? { destination: prettyDestination(isTty && !process.env['NO_COLOR']) } : {}) }));
}

/** From now on, every Nest `Logger` in this process writes JSON through pino (also before the app exists). */
export function useJsonLogs(service: string): void {
  Logger.overrideLogger(jsonLogger(service));
}

/** An incoming request id is kept if it looks like one (a proxy's or the caller's), so one id spans hops. */
const INCOMING_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestIdOf(req: IncomingMessage): string {
  const incoming = req.headers[REQUEST_ID_HEADER];
  return typeof incoming === 'string' && INCOMING_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/**
 * How long a closing server waits for connections still receiving a request before it cuts them.
 * Node's `server.close()` closes the connections that are idle at that moment and then waits for
 * the rest: a keep-alive connection whose request was being handled stayed open after its answer
 * until the keep-alive timeout (Fastify's 72 s), and one sending its request slowly until the
 * request timeout, past any orchestrator's grace period, so the process was killed before it
 * closed its consumers and databases.
 */
export const HTTP_CLOSE_GRACE_MS = 10_000;
/** While closing, connections that have become idle (their answer sent) are closed this often. */
const CLOSE_IDLE_EVERY_MS = 100;

/**
 * The Fastify adapter every service uses: `//` after a path segment is tolerated (Aurora clients
 * join `api_url` and paths literally), bodies are limited, form-urlencoded bodies (OAuth2 clients)
 * are parsed into plain objects, every request gets an id (`x-request-id`, kept if the caller sent
 * a sane one), and closing ends each connection once its answer is sent, cutting what is still
 * busy after `closeGraceMs`. Fastify's per-request async binding is made cheap on Node 20
 * (lean-async-bind.ts).
 *
 * `trustProxy`: see `TRUST_PROXY` (config.ts); by default the connection's peer is the client.
 * `closeGraceMs`: HTTP_CLOSE_GRACE_MS unless a test needs it shorter.
 */
export function createFastifyAdapter(options: { trustProxy?: TrustProxy; closeGraceMs?: number } = {}): FastifyAdapter {
  useLeanAsyncResourceBind();
  const adapter = new FastifyAdapter({
    bodyLimit: Limits.bodyMaxBytes,
    routerOptions: { ignoreDuplicateSlashes: true, ignoreTrailingSlash: true, maxParamLength: 256 },
    trustProxy: options.trustProxy ?? false,
    genReqId: requestIdOf,
    // A URL the router cannot decode (a broken percent-escape) never reaches a route or the
    // exception filter: answer it as every other bad request is answered, in problem+json.
    frameworkErrors: (error: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
      void reply
        .status(400)
        .header('content-type', 'application/problem+json')
        .send({
          type: ERROR_TYPE_BASE + ErrorCode.InvalidArgument,
          title: 'Invalid argument',
          status: 400,
          detail: error.code === 'FST_ERR_BAD_URL' ? 'the request URL is not valid (a malformed percent-escape)' : 'the request could not be routed',
          code: ErrorCode.InvalidArgument,
        });
    },
  });
  const fastify = adapter.getInstance();
  fastify.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: Limits.bodyMaxBytes }, (_req, body, done) => {
    const params = new URLSearchParams(body as string);
    const object: Record<string, string> = {};
    for (const [name, value] of params) object[name] = value;
    done(null, object);
  });
  // Closing: each connection goes once its answer is sent; what is left after the grace is cut.
  const graceMs = options.closeGraceMs ?? HTTP_CLOSE_GRACE_MS;
  fastify.addHook('preClose', (done) => {
    const server = fastify.server;
    // Unreferenced: the open connections keep the process alive while they matter.
    const idle = setInterval(() => server.closeIdleConnections(), CLOSE_IDLE_EVERY_MS).unref();
    const cut = setTimeout(() => server.closeAllConnections(), graceMs).unref();
    server.once('close', () => {
      clearInterval(idle);
      clearTimeout(cut);
    });
    done();
  });
  return adapter;
}

/**
 * Request id and HTTP metrics. The id is entered into the async context once, on request: Fastify
 * runs the body parser's callback in the context it was started from (an AsyncResource), so the
 * handler still sees it.
 */
function instrument(fastify: FastifyInstance, metrics: Metrics | undefined): void {
  fastify.addHook('onRequest', (req, reply, done) => {
    void reply.header(REQUEST_ID_HEADER, req.id);
    Correlation.run(req.id, done);
  });
  if (!metrics) return;
  const requests = labelChildren(metrics.httpRequests);
  const durations = labelChildren(metrics.httpRequestDuration);
  fastify.addHook('onResponse', (req, reply, done) => {
    // The route pattern, never the raw URL: ids in paths would make a series per request.
    const route = req.routeOptions.url ?? 'unmatched';
    requests(req.method, route, String(reply.statusCode)).inc();
    durations(req.method, route).observe(reply.elapsedTime / 1000);
    done();
  });
}

/** Configures an already created app the way every Borealis HTTP service is configured. */
export function configureHttpApp(app: INestApplication): void {
  app.useGlobalFilters(new ProblemDetailsFilter());
  app.enableShutdownHooks();
  let metrics: Metrics | undefined;
  try {
    metrics = app.get(Metrics, { strict: false });
  } catch {
    // An app without the PlatformModule (some tests): no metrics to record.
  }
  instrument(app.getHttpAdapter().getInstance() as FastifyInstance, metrics);
}

export async function createHttpApp(module: Type | DynamicModule, service = 'borealis', trustProxy: TrustProxy = false): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(module, createFastifyAdapter({ trustProxy }), {
    logger: jsonLogger(service),
    bufferLogs: true,
    // Fastify parses JSON itself; Nest's parser registration would clash with ours for forms.
    bodyParser: false,
  });
  configureHttpApp(app);
  return app;
}
