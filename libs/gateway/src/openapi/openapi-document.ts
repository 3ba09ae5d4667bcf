import { Limits } from '@borealis/contracts';
import { DATA_MAX_DEPTH, TARGET_PATTERN } from '../send/send-request';
import { STATS_MAX_DAYS } from '../stats/stats-range';

const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } });
const json = (description: string, schema: object) => ({ description, content: { 'application/json': { schema } } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const errors = {
  '400': problem('invalid_argument or malformed_body: the `errors` member names each bad field'),
  '401': problem('unauthenticated: no token, a bad token, or one obtained with a revoked key (with WWW-Authenticate)'),
  '403': problem('permission_denied: another project, a missing scope, or an inactive project'),
  '429': problem('rate_limited: with Retry-After and RateLimit-* headers'),
  '503': problem('unavailable: retry after Retry-After seconds'),
};
const projectId = { name: 'project_id', in: 'path', required: true, schema: { type: 'string' } };
const registrationId = { name: 'registration_id', in: 'path', required: true, schema: { type: 'string', maxLength: 128 } };
const topic = { name: 'topic', in: 'path', required: true, schema: { type: 'string', pattern: TARGET_PATTERN } };
const subscription = (summary: string) => ({
  summary,
  security: [{ bearer: ['message:update'] }],
  parameters: [projectId, registrationId, topic],
  responses: { '202': json('Durable; push-core applies it if the registration belongs to the project', { type: 'object', properties: { requestId: { type: 'string' } } }), ...errors },
});

/** The OpenAPI 3.1 description of the application-server API (served at `/push/public/api/v1/openapi.json`). */
export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'Borealis push API',
    version: '1',
    description: 'Aurora OS Notification Service compatible application-server API. Errors are RFC 9457 problem+json with a stable `code` (docs/errors.md).',
  },
  servers: [{ url: '/push/public/api/v1' }],
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Access token from POST /auth/public/oauth2/token' } },
    schemas: {
      Problem: {
        type: 'object',
        required: ['type', 'title', 'status', 'detail', 'code'],
        properties: {
          type: { type: 'string', format: 'uri' },
          title: { type: 'string' },
          status: { type: 'integer' },
          detail: { type: 'string' },
          code: { type: 'string', description: 'Stable code from the error catalogue' },
          instance: { type: 'string' },
          errors: { type: 'object', additionalProperties: { type: 'string' }, description: 'Field path → what is wrong with it' },
          errorId: { type: 'string', description: 'For internal errors: quote it to the operator' },
        },
      },
      SendRequest: {
        type: 'object',
        additionalProperties: false,
        required: ['target', 'type', 'notification'],
        properties: {
          target: { type: 'string', minLength: 1, maxLength: Limits.targetMaxChars, pattern: TARGET_PATTERN, description: 'registrationId, applicationId or topic name, by type' },
          type: { type: 'string', enum: ['device', 'application', 'topic'] },
          ttl: { type: 'string', pattern: '^(\\d+h)?(\\d+m)?(\\d+s)?$', description: `Duration like 5h30m, at most ${Limits.ttlMaxSeconds / 86400} days (the default)` },
          notification: {
            type: 'object',
            additionalProperties: false,
            minProperties: 1,
            description: 'Every field is optional, but at least one of title, message (not empty) or data must be given. A push with data only is silent: the device gets it with empty title and message and shows nothing.',
            properties: {
              title: { type: 'string', maxLength: Limits.titleMaxChars, description: 'Counted in Unicode code points' },
              message: { type: 'string', maxLength: Limits.messageMaxChars, description: 'Counted in Unicode code points' },
              data: { type: 'object', description: `Delivered to the device as JSON text; at most ${Limits.dataMaxBytes} bytes as UTF-8 JSON, ${DATA_MAX_DEPTH} levels deep` },
            },
          },
          priority: { type: 'string', enum: ['high', 'normal'], default: 'normal' },
          collapse_key: { type: 'string', minLength: 1, maxLength: Limits.collapseKeyMaxChars, description: 'A newer pending message with the same key replaces the older one' },
        },
      },
      MessageStatus: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          projectId: { type: 'string' },
          state: { type: 'string', enum: ['accepted', 'stored', 'sent', 'delivered', 'expired', 'failed'] },
          target: { type: 'object', properties: { type: { type: 'string' }, value: { type: 'string' } } },
          createdAt: { type: 'string', format: 'date-time' },
          expiresAt: { type: 'string', format: 'date-time' },
          counts: { type: 'object', additionalProperties: { type: 'integer' } },
          recipients: {
            type: 'array',
            items: { type: 'object', properties: { registrationId: { type: 'string' }, state: { type: 'string' }, updatedAt: { type: 'string', format: 'date-time' } } },
          },
        },
      },
      Project: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          name: { type: 'string' },
          isActive: { type: 'boolean' },
          serviceAccount: { type: ['object', 'null'], properties: { clientId: { type: 'string' }, createdAt: { type: 'string', format: 'date-time' } } },
          createdAt: { type: 'string', format: 'date-time' },
          updatedAt: { type: 'string', format: 'date-time' },
        },
      },
      ProjectStats: {
        type: 'object',
        properties: {
          projectId: { type: 'string' },
          from: { type: 'string', format: 'date' },
          to: { type: 'string', format: 'date' },
          days: {
            type: 'array',
            items: {
              type: 'object',
              properties: { date: { type: 'string', format: 'date' }, accepted: { type: 'integer' }, delivered: { type: 'integer' }, expired: { type: 'integer' }, failed: { type: 'integer' } },
            },
          },
        },
      },
    },
  },
  paths: {
    '/projects/{project_id}/messages': {
      post: {
        summary: 'Send a message to a device, every registration of an application, or a topic',
        security: [{ bearer: ['message:update'] }],
        parameters: [
          projectId,
          { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' }, description: 'Same key and body within a day: same id, sent once' },
        ],
        requestBody: { required: true, content: { 'application/json': { schema: ref('SendRequest') } } },
        responses: {
          '200': json('Durable in Kafka (all in-sync replicas)', { type: 'object', required: ['id'], properties: { id: { type: 'string' } } }),
          ...errors,
          '409': problem('conflict: a request with this Idempotency-Key is still in progress'),
          '413': problem(`payload_too_large: the body exceeds ${Limits.bodyMaxBytes} bytes`),
          '415': problem('unsupported_media_type: send application/json'),
          '422': problem('conflict: the Idempotency-Key was used with a different body'),
        },
      },
    },
    '/projects/{project_id}': {
      get: { summary: 'Describe the project', security: [{ bearer: ['project:read'] }], parameters: [projectId], responses: { '200': json('The project', ref('Project')), ...errors, '404': problem('not_found') } },
    },
    '/projects/{project_id}/messages/{message_id}': {
      get: {
        summary: "A message's state per recipient (device targets) or counts by state (group targets)",
        security: [{ bearer: ['project:read'] }],
        parameters: [projectId, { name: 'message_id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': json('The status', ref('MessageStatus')), ...errors, '404': problem('not_found') },
      },
    },
    '/projects/{project_id}/stats': {
      get: {
        summary: 'Per-day counts of accepted, delivered, expired and failed messages (UTC days, both ends inclusive)',
        security: [{ bearer: ['project:read'] }],
        parameters: [
          projectId,
          { name: 'from', in: 'query', schema: { type: 'string', format: 'date' }, description: '29 days before `to` when absent' },
          { name: 'to', in: 'query', schema: { type: 'string', format: 'date' }, description: `Today when absent; at most ${STATS_MAX_DAYS} days in all` },
        ],
        responses: { '200': json('The counters', ref('ProjectStats')), ...errors },
      },
    },
    '/projects/{project_id}/registrations/{registration_id}/topics/{topic}': {
      post: subscription('Subscribe a registration to a topic'),
      delete: subscription('Unsubscribe a registration from a topic'),
    },
  },
} as const;
