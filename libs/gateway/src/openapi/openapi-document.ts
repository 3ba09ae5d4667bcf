import { Limits, MessageListQuery, MULTICAST_MAX_RECIPIENTS, PUSH_API_SCHEMAS, REGISTRATION_ID_MAX_CHARS, StatsQuery, TARGET_PATTERN } from '@borealis/contracts';
import { componentSchemas, queryParameters } from './json-schema';

const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } });
const json = (description: string, schema: object) => ({ description, content: { 'application/json': { schema } } });
const ref = (name: keyof typeof PUSH_API_SCHEMAS) => ({ $ref: `#/components/schemas/${name}` });
const errors = {
  '400': problem('invalid_argument or malformed_body: the `errors` member names each bad field'),
  '401': problem('unauthenticated: no token, a bad token, or one obtained with a revoked key (with WWW-Authenticate)'),
  '403': problem('permission_denied: another project, a missing scope, or an inactive project'),
  '429': problem('rate_limited: with Retry-After and RateLimit-* headers'),
  '503': problem('unavailable: retry after Retry-After seconds'),
};
const projectId = { name: 'project_id', in: 'path', required: true, schema: { type: 'string' } };
const registrationId = { name: 'registration_id', in: 'path', required: true, schema: { type: 'string', maxLength: REGISTRATION_ID_MAX_CHARS, pattern: TARGET_PATTERN } };
const topic = { name: 'topic', in: 'path', required: true, schema: { type: 'string', pattern: TARGET_PATTERN } };
const subscription = (summary: string) => ({
  summary,
  security: [{ bearer: ['message:update'] }],
  parameters: [projectId, registrationId, topic],
  responses: { '202': json('Durable; push-core applies it if the registration belongs to the project', ref('SubscriptionAccepted')), ...errors },
});

/**
 * The OpenAPI 3.1 description of the application-server API (served at `/push/public/api/v1/openapi.json`).
 * Its schemas and query parameters are generated from the ones the gateway validates with and the
 * server SDK reads with (`PUSH_API_SCHEMAS`, `MessageListQuery`, `StatsQuery`, libs/contracts);
 * the paths, path parameters and answers are written here.
 */
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
    schemas: componentSchemas(PUSH_API_SCHEMAS),
  },
  paths: {
    '/projects/{project_id}/messages': {
      get: {
        summary: 'The project’s messages, newest first, a page at a time',
        security: [{ bearer: ['project:read'] }],
        parameters: [projectId, ...queryParameters(MessageListQuery)],
        responses: { '200': json('A page; with a state filter it may be short, even empty, while nextCursor is set', ref('MessageList')), ...errors },
      },
      post: {
        summary: 'Send a message to a device, every registration of an application, or a topic',
        security: [{ bearer: ['message:update'] }],
        parameters: [
          projectId,
          { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' }, description: 'Same key and body within a day: same id, sent once' },
        ],
        requestBody: { required: true, content: { 'application/json': { schema: ref('SendRequest') } } },
        responses: {
          '200': json('Durable in Kafka (all in-sync replicas)', ref('SendResult')),
          ...errors,
          '409': problem('conflict: a request with this Idempotency-Key is still in progress'),
          '413': problem(`payload_too_large: the body exceeds ${Limits.bodyMaxBytes} bytes`),
          '415': problem('unsupported_media_type: send application/json'),
          '422': problem('conflict: the Idempotency-Key was used with a different body'),
        },
      },
    },
    '/projects/{project_id}/messages/multicast': {
      post: {
        summary: `One notification to up to ${MULTICAST_MAX_RECIPIENTS} registrations: one message id, an outcome per id (Borealis extension)`,
        security: [{ bearer: ['message:update'] }],
        parameters: [
          projectId,
          { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' }, description: 'Same key and body within a day: the first answer again, sent once' },
        ],
        requestBody: { required: true, content: { 'application/json': { schema: ref('MulticastRequest') } } },
        responses: {
          '200': json('Durable in Kafka (all in-sync replicas) for the accepted recipients; the project quota is taken once per accepted recipient', ref('MulticastResult')),
          ...errors,
          '409': problem('conflict: a request with this Idempotency-Key is still in progress'),
          '413': problem(`payload_too_large: the body exceeds ${Limits.bodyMaxBytes} bytes`),
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
      delete: {
        summary: 'Cancel a message: recipients not reached yet never get it; delivered ones are unaffected. Idempotent',
        security: [{ bearer: ['message:update'] }],
        parameters: [projectId, { name: 'message_id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          '200': json('Applied: the status after the cancel (state cancelled, or unchanged when nothing was left to cancel)', ref('MessageStatus')),
          '202': json('Durable but not applied yet (push-core busy): the status before it; it will apply', ref('MessageStatus')),
          ...errors,
          '404': problem('not_found: no such message in this project (yet: a message accepted a moment ago may not be stored)'),
        },
      },
    },
    '/projects/{project_id}/stats': {
      get: {
        summary: 'Per-day counts of accepted messages and of delivered, expired, failed and cancelled recipients (UTC days, both ends inclusive)',
        security: [{ bearer: ['project:read'] }],
        parameters: [projectId, ...queryParameters(StatsQuery)],
        responses: { '200': json('The counters', ref('ProjectStats')), ...errors },
      },
    },
    '/projects/{project_id}/registrations/{registration_id}': {
      get: {
        summary: 'One of the project’s registrations: application, created, last seen, online now, topics',
        security: [{ bearer: ['project:read'] }],
        parameters: [projectId, registrationId],
        responses: { '200': json('The registration', ref('Registration')), ...errors, '404': problem('not_found: no such registration in this project') },
      },
      delete: {
        summary: 'Unregister: no further deliveries (open ones fail); the device gets a new registrationId at its next registrate. Idempotent',
        security: [{ bearer: ['message:update'] }],
        parameters: [projectId, registrationId],
        responses: {
          '200': json('Applied (or gone already): the registration with unregisteredAt', ref('Registration')),
          '202': json('Durable but not applied yet (push-core busy); it will apply', ref('Registration')),
          ...errors,
          '404': problem('not_found: no such registration in this project'),
        },
      },
    },
    '/projects/{project_id}/registrations/{registration_id}/topics': {
      get: {
        summary: 'Every topic the registration is subscribed to, by name',
        security: [{ bearer: ['project:read'] }],
        parameters: [projectId, registrationId],
        responses: { '200': json('The topics', ref('RegistrationTopics')), ...errors, '404': problem('not_found: no such registration in this project') },
      },
    },
    '/projects/{project_id}/registrations/{registration_id}/topics/{topic}': {
      post: subscription('Subscribe a registration to a topic'),
      delete: subscription('Unsubscribe a registration from a topic'),
    },
  },
} as const;
