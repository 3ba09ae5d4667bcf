import { RequestMethod, type Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { z } from 'zod';
import { ACCESS_RULE, type AccessRule } from '../access/access';
import { OPERATION_DOC, type OperationDoc } from './operation';

/** The management controllers (the OpenAPI document describes their routes). */
export const MANAGEMENT_CONTROLLERS = Symbol('MANAGEMENT_CONTROLLERS');

export interface ManagementRoute {
  controller: string;
  handler: string;
  method: string;
  /** Nest syntax, `/auth/admin/v1/projects/:projectId`. */
  path: string;
  access: AccessRule | undefined;
  doc: OperationDoc | undefined;
}

/** Every route handler of `controllers`, read from Nest's own route metadata. */
export function routesOf(controllers: readonly Type[]): ManagementRoute[] {
  const routes: ManagementRoute[] = [];
  for (const controller of controllers) {
    const base = String(Reflect.getMetadata(PATH_METADATA, controller) ?? '');
    for (const handler of Object.getOwnPropertyNames(controller.prototype)) {
      const fn: unknown = controller.prototype[handler];
      if (handler === 'constructor' || typeof fn !== 'function' || Reflect.getMetadata(PATH_METADATA, fn) === undefined) continue;
      const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, fn) as RequestMethod];
      const path = ['', base, String(Reflect.getMetadata(PATH_METADATA, fn))].join('/').replace(/\/+/g, '/').replace(/(.)\/$/, '$1');
      routes.push({ controller: controller.name, handler, method, path, access: Reflect.getMetadata(ACCESS_RULE, fn), doc: Reflect.getMetadata(OPERATION_DOC, fn) });
    }
  }
  return routes;
}

function describeAccess(rule: AccessRule | undefined): string {
  switch (rule?.kind) {
    case 'public':
      return 'No credentials.';
    case 'authenticated':
      return 'Any console session, or the operator admin token.';
    case 'operator':
      return 'The operator admin token only.';
    case 'role':
      return `Role ${rule.role} or higher in the organization (or the operator admin token). Non-members get 404.`;
    default:
      return 'Refused: no access rule.';
  }
}

/** The OpenAPI 3.1 document of the management API. */
export function openApiDocument(routes: readonly ManagementRoute[], serverUrl: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const params = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
    const operation: Record<string, unknown> = {
      operationId: route.handler,
      tags: [route.controller.replace(/Controller$/, '')],
      summary: route.doc?.summary ?? route.handler,
      description: `Access: ${describeAccess(route.access)}`,
      'x-borealis-access': route.access ?? null,
      security: route.access?.kind === 'public' ? [] : [{ bearer: [] }, { consoleSession: [] }],
      parameters: [
        ...params.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
        ...Object.entries(route.doc?.query ?? {}).map(([name, description]) => ({ name, in: 'query', required: false, description, schema: { type: 'string' } })),
      ],
      responses: {
        '200': { description: 'Success (201 for creations, 204 without a body)' },
        default: { description: 'RFC 9457 problem details with a stable `code`', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
      },
    };
    if (route.doc?.body) {
      operation['requestBody'] = { required: true, content: { 'application/json': { schema: z.toJSONSchema(route.doc.body, { io: 'input', unrepresentable: 'any' }) } } };
    }
    const path = route.path.replace(/:(\w+)/g, '{$1}');
    (paths[path] ??= {})[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Borealis auth management API', version: 'v1', description: 'Organizations, members, projects, service-account keys, applications and the audit log. See docs/auth.md.' },
    servers: [{ url: serverUrl }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'A console session token (POST /auth/admin/v1/sessions) or the operator admin token' },
        consoleSession: {
          type: 'apiKey',
          in: 'cookie',
          name: 'borealis_session',
          description: 'The console session cookie (POST /auth/admin/v1/console/session); requests other than GET, HEAD and OPTIONS also need X-CSRF-Token',
        },
      },
      schemas: {
        Problem: {
          type: 'object',
          properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' }, code: { type: 'string' }, errors: { type: 'object' } },
        },
      },
    },
    paths,
  };
}
