import { Inject, Injectable, Logger, Module, type DynamicModule, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, extname, join, relative, resolve, sep } from 'node:path';
import { DomainError, ErrorCode } from '@borealis/contracts';

/**
 * The console's Content-Security-Policy (docs/adr/0008-console-serving.md): everything from this
 * origin only, no inline script or style, no plugins, no framing, no `<base>` and forms only here.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Security headers on every console response (files, the index and its fallbacks). */
export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const NO_CACHE = 'no-cache';
/** Files under assets/ have content hashes in their names: a new build gets new names. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** First path segments that belong to the APIs and the operations endpoints, never to the console. */
const API_SEGMENTS: ReadonlySet<string> = new Set(['auth', 'push', 'internal', 'metrics', 'healthz', 'readyz', 'health', 'device']);

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * Where the root build puts the console (`dist/apps/console`), found from this file whether it
 * runs compiled (`dist/libs/platform/src`) or from source (`libs/platform/src`, under Jest).
 */
export function defaultConsoleDir(): string {
  const root = resolve(__dirname, '..', '..', '..');
  return basename(root) === 'dist' ? join(root, 'apps', 'console') : join(root, 'dist', 'apps', 'console');
}

/** The files of the built console, by URL path: read once at start, so no request path ever reaches the file system. */
function listFiles(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (at: string) => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      const stat = statSync(path);
      if (stat.isDirectory()) walk(path);
      else if (stat.isFile()) files.set('/' + relative(dir, path).split(sep).join('/'), path);
    }
  };
  if (existsSync(dir) && statSync(dir).isDirectory()) walk(dir);
  return files;
}

function isApiPath(path: string): boolean {
  return API_SEGMENTS.has(path.split('/')[1] ?? '');
}

/**
 * Serves the web console from `dir` at `/` (docs/adr/0008-console-serving.md): its files as they
 * are, `index.html` for every other path outside the APIs (client-side routes such as
 * `/invitations/accept?token=…`), a 404 problem for a missing file under `assets/` (a stale page
 * asking for an old build's script must not get HTML). Without a built console (`index.html`
 * absent) every such path answers 404 problem+json "the console is not built". The API routes
 * are more specific than this catch-all and always win; an unknown API path keeps its 404.
 */
export function registerConsoleSite(fastify: FastifyInstance, dir: string): { built: boolean } {
  const files = listFiles(resolve(dir));
  const index = files.get('/index.html');

  const send = async (reply: FastifyReply, file: string, cacheControl: string) => {
    const body = await readFile(file);
    return reply
      .headers(CONSOLE_HEADERS)
      .header('cache-control', cacheControl)
      .type(TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream')
      .send(body);
  };

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const raw = request.url.split('?')[0] ?? '/';
    let path: string;
    try {
      path = decodeURIComponent(raw).replace(/\/{2,}/g, '/');
    } catch {
      path = raw;
    }
    // The same answer as an unknown route gets from the framework.
    if (isApiPath(path)) throw new DomainError(ErrorCode.NotFound, 'no such route');
    if (!index) {
      void reply.headers(CONSOLE_HEADERS);
      throw new DomainError(ErrorCode.NotFound, 'the console is not built (npm run build builds it into dist/apps/console)');
    }
    const file = path === '/' ? undefined : files.get(path);
    if (file) return send(reply, file, path.startsWith('/assets/') ? IMMUTABLE : NO_CACHE);
    if (path.startsWith('/assets/')) {
      void reply.headers(CONSOLE_HEADERS);
      throw new DomainError(ErrorCode.NotFound, `no console file ${raw}`);
    }
    return send(reply, index, NO_CACHE);
  };

  fastify.get('/', handler);
  fastify.get('/*', handler);
  return { built: index !== undefined };
}

const CONSOLE_DIR = Symbol('CONSOLE_DIR');

/** Adds the console's routes once Nest has set up its Fastify instance (so thrown errors reach the problem+json filter). */
@Injectable()
class ConsoleSiteRoutes implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(CONSOLE_DIR) private readonly dir: string,
  ) {}

  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter) return;
    const { built } = registerConsoleSite(adapter.getInstance<FastifyInstance>(), this.dir);
    new Logger('Console').log({ msg: built ? 'serving the web console at /' : 'the web console is not built: / answers 404', dir: this.dir });
  }
}

/** The web console at `/`, served from `dir` (standalone mode and the auth service). */
@Module({})
export class ConsoleSiteModule {
  static register(dir: string): DynamicModule {
    return { module: ConsoleSiteModule, providers: [{ provide: CONSOLE_DIR, useValue: dir }, ConsoleSiteRoutes] };
  }
}
