import { Controller, Get, Header, Param, Res } from '@nestjs/common';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DomainError, ErrorCode } from '@borealis/contracts';
import { DOCS_FILE_HEADERS, docsPageHeaders } from '@borealis/platform';
import type { FastifyReply } from 'fastify';
import { OPENAPI_DOCUMENT } from './openapi-document';

const PREFIX = '/push/public/api/v1';

/** The Swagger UI files this page loads, with their content types. */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
};

const INLINE_SCRIPT = `SwaggerUIBundle({ url: '${PREFIX}/openapi.json', dom_id: '#ui', presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: 'StandaloneLayout' });`;

const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Borealis push API</title><link rel="stylesheet" href="${PREFIX}/docs/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="${PREFIX}/docs/swagger-ui-bundle.js"></script>
<script src="${PREFIX}/docs/swagger-ui-standalone-preset.js"></script>
<script>${INLINE_SCRIPT}</script>
</body>
</html>`;

const PAGE_HEADERS = docsPageHeaders(INLINE_SCRIPT);

/**
 * The OpenAPI document and a Swagger UI page for it, public like any API reference. The UI's files
 * come from the @fastify/swagger-ui package, served here rather than through its plugin, whose
 * static-file dependency is ESM-only and cannot load under Jest on Node 20.
 */
@Controller('push/public/api/v1')
export class ApiDocsController {
  private readonly assets = new Map<string, Promise<Buffer>>();

  @Get('openapi.json')
  @Header('cache-control', 'public, max-age=300')
  document(): typeof OPENAPI_DOCUMENT {
    return OPENAPI_DOCUMENT;
  }

  @Get('docs')
  @Header('content-type', 'text/html; charset=utf-8')
  page(@Res({ passthrough: true }) reply: FastifyReply): string {
    void reply.headers(PAGE_HEADERS);
    return PAGE;
  }

  @Get('docs/:file')
  async asset(@Param('file') file: string, @Res({ passthrough: true }) reply: FastifyReply): Promise<Buffer> {
    void reply.headers(DOCS_FILE_HEADERS);
    // Own properties only: `constructor`, `__proto__` or `toString` must not reach the file system.
    if (!Object.hasOwn(ASSETS, file)) throw new DomainError(ErrorCode.NotFound, 'no such docs file');
    let content = this.assets.get(file);
    if (!content) {
      content = readFile(join(dirname(require.resolve('@fastify/swagger-ui/package.json')), 'static', file));
      this.assets.set(file, content);
      // A failed read is tried again next time, not remembered.
      content.catch(() => this.assets.delete(file));
    }
    const bytes = await content;
    // Only once the file is there: an error must not go out with a day's public caching.
    reply.header('content-type', ASSETS[file]!).header('cache-control', 'public, max-age=86400');
    return bytes;
  }
}
