import { Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import type { Server } from 'node:http';
import { answerUnparseableRequests, defaultJsonContentType, requireUtf8Json } from './public-api-http';

/**
 * What the public API needs from the Fastify instance itself, beyond routes: JSON by default and
 * strict UTF-8 JSON, and problem+json for requests that are not HTTP. Runs before the server listens. Without an HTTP server (a bare application context) it does nothing.
 */
@Injectable()
export class PublicApiSetup implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter) return;
    const fastify = adapter.getInstance<FastifyInstance>();
    defaultJsonContentType(fastify);
    requireUtf8Json(fastify);
    answerUnparseableRequests(adapter.getHttpServer() as Server);
  }
}
