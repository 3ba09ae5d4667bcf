import { ConsoleLogger, type INestApplication, type Type, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Limits } from '@borealis/contracts';
import { ProblemDetailsFilter } from './problem-details.filter';

export function jsonLogger(): ConsoleLogger {
  return new ConsoleLogger({ json: true, logLevels: (process.env['LOG_LEVEL'] ?? 'log').split(',') as never, colors: false });
}

/**
 * The Fastify adapter every service uses: `//` after a path segment is tolerated (Aurora clients
 * join `api_url` and paths literally), bodies are limited, form-urlencoded bodies (OAuth2 clients)
 * are parsed into plain objects.
 */
export function createFastifyAdapter(): FastifyAdapter {
  const adapter = new FastifyAdapter({
    bodyLimit: Limits.bodyMaxBytes,
    routerOptions: { ignoreDuplicateSlashes: true, ignoreTrailingSlash: true, maxParamLength: 256 },
    trustProxy: true,
  });
  const fastify = adapter.getInstance();
  fastify.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: Limits.bodyMaxBytes }, (_req, body, done) => {
    const params = new URLSearchParams(body as string);
    const object: Record<string, string> = {};
    for (const [name, value] of params) object[name] = value;
    done(null, object);
  });
  return adapter;
}

/** Configures an already created app the way every Borealis HTTP service is configured. */
export function configureHttpApp(app: INestApplication): void {
  app.useGlobalFilters(new ProblemDetailsFilter());
  app.enableShutdownHooks();
}

export async function createHttpApp(module: Type | DynamicModule): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(module, createFastifyAdapter(), {
    logger: jsonLogger(),
    bufferLogs: true,
    // Fastify parses JSON itself; Nest's parser registration would clash with ours for forms.
    bodyParser: false,
  });
  configureHttpApp(app);
  return app;
}
