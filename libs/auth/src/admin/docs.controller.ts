import { Controller, Get, Header, Param, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DomainError, ErrorCode } from '@borealis/contracts';
import { DOCS_FILE_HEADERS, docsPageHeaders } from '@borealis/platform';
import { Public } from '../access/access';
import { AccessGuard } from '../access/access.guard';
import { Operation } from './operation';

/** The Swagger UI assets shipped with @fastify/swagger-ui (served here without its Fastify plugin). */
const ASSETS: Record<string, string> = {
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'swagger-ui.css': 'text/css; charset=utf-8',
};

const INLINE_SCRIPT = `SwaggerUIBundle({ url: '/auth/admin/v1/openapi.json', dom_id: '#ui' });`;

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Borealis management API</title>
<link rel="stylesheet" href="/auth/admin/docs/static/swagger-ui.css"></head>
<body><div id="ui"></div><script src="/auth/admin/docs/static/swagger-ui-bundle.js"></script>
<script>${INLINE_SCRIPT}</script></body></html>`;

const PAGE_HEADERS = docsPageHeaders(INLINE_SCRIPT);

/** A browsable UI for the management API's OpenAPI document. */
@Controller('auth/admin/docs')
@UseGuards(AccessGuard)
export class DocsController {
  @Get()
  @Public()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Operation('Swagger UI for /auth/admin/v1/openapi.json')
  page(@Res({ passthrough: true }) reply: FastifyReply): string {
    void reply.headers(PAGE_HEADERS);
    return PAGE;
  }

  @Get('static/:asset')
  @Public()
  @Operation('Swagger UI assets')
  async asset(@Param('asset') asset: string, @Res({ passthrough: true }) reply: FastifyReply): Promise<Buffer> {
    void reply.headers(DOCS_FILE_HEADERS);
    const type = Object.hasOwn(ASSETS, asset) ? ASSETS[asset] : undefined;
    if (!type) throw new DomainError(ErrorCode.NotFound, 'no such asset');
    const bytes = await readFile(join(dirname(require.resolve('@fastify/swagger-ui/package.json')), 'static', asset));
    // Set here, not with @Header (which Nest applies before the handler runs, so to errors too).
    void reply.header('content-type', type).header('cache-control', 'public, max-age=86400');
    return bytes;
  }
}
