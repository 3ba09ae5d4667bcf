import { DATA_MAX_DEPTH, DomainError, ErrorCode, Limits, ListableMessageState, MULTICAST_MAX_RECIPIENTS } from '@borealis/contracts';
import { parseMulticastRequest, parseSendRequest } from '../send/send-request';
import { parseStatsRange } from '../stats/stats-range';
import { parseMessageListParams } from '../status/message-list-params';
import { documentValidator, type Validate } from './document-validator.testing';
import { OPENAPI_DOCUMENT } from './openapi-document';

/**
 * The document against the validator: a JSON Schema validator of its own judges each body by the
 * document alone, and the gateway's parse must agree: refuse what the document refuses (naming the
 * field), accept what it accepts, except for the rules the document states only in words.
 */
const ajv = documentValidator(OPENAPI_DOCUMENT);
const schema = (name: string): Validate => ajv.component(name);

const NOW = Date.parse('2027-01-31T09:00:00Z');
const send = { target: 'reg-1', type: 'device', notification: { title: 'Hello' } };
const multicast = { registration_ids: ['reg-1'], notification: { title: 'Hello' } };

/** The fields the gateway names for a body, or null when it accepts it. */
function refusal(parse: (body: unknown, nowMs: number) => unknown, body: unknown): string[] | null {
  try {
    parse(body, NOW);
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe(ErrorCode.InvalidArgument);
    return Object.keys((err as DomainError).details.fields ?? {});
  }
}

const nest = (levels: number): Record<string, unknown> => {
  let data: Record<string, unknown> = {};
  for (let i = 1; i < levels; i++) data = { d: data };
  return data;
};

describe('the OpenAPI document and the validation are one schema', () => {
  it('generates the request and response schemas, every $ref resolving', () => {
    const text = JSON.stringify(OPENAPI_DOCUMENT);
    for (const [, name] of text.matchAll(/"\$ref":"#\/components\/schemas\/(\w+)"/g)) expect(Object.keys(OPENAPI_DOCUMENT.components.schemas)).toContain(name);
    expect(OPENAPI_DOCUMENT.paths['/projects/{project_id}/messages'].post.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/SendRequest' });
    expect(OPENAPI_DOCUMENT.paths['/projects/{project_id}/messages/multicast'].post.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/MulticastRequest' });
    // No dialect or id per component: the document is 3.1, whose dialect is 2020-12.
    expect(text).not.toContain('$schema');
    expect(text).not.toContain('"$id"');
  });

  it("accepts the document's own examples, by the document and by the gateway", () => {
    const { SendRequest, MulticastRequest, Notification } = OPENAPI_DOCUMENT.components.schemas as Record<string, { examples?: unknown[] }>;
    expect(SendRequest!.examples!.length).toBeGreaterThan(0);
    for (const example of SendRequest!.examples!) expect({ example, document: schema('SendRequest')(example), gateway: refusal(parseSendRequest, example) }).toEqual({ example, document: true, gateway: null });
    for (const example of MulticastRequest!.examples!) expect({ example, document: schema('MulticastRequest')(example), gateway: refusal(parseMulticastRequest, example) }).toEqual({ example, document: true, gateway: null });
    for (const notification of Notification!.examples!) {
      const body = { ...send, notification };
      expect({ body, document: schema('SendRequest')(body), gateway: refusal(parseSendRequest, body) }).toEqual({ body, document: true, gateway: null });
    }
  });

  it.each<[string, unknown, string]>([
    ['not an object', ['reg-1'], 'body'],
    ['no target', { type: 'device', notification: { title: 't' } }, 'target'],
    ['no type', { target: 'reg-1', notification: { title: 't' } }, 'type'],
    ['no notification', { target: 'reg-1', type: 'device' }, 'notification'],
    ['a number as target', { ...send, target: 7 }, 'target'],
    ['an empty target', { ...send, target: '' }, 'target'],
    ['a target with a space', { ...send, target: 'reg 1' }, 'target'],
    ['a target of 257 characters', { ...send, target: 'r'.repeat(Limits.targetMaxChars + 1) }, 'target'],
    ['an unknown type', { ...send, type: 'broadcast' }, 'type'],
    ['a type in an array', { ...send, type: ['device'] }, 'type'],
    ['an unknown field', { ...send, colour: 'red' }, 'colour'],
    ['an unknown notification field', { ...send, notification: { title: 't', icon: 'x' } }, 'notification.icon'],
    ['a notification that is a string', { ...send, notification: 'hello' }, 'notification'],
    ['a title of 513 code points', { ...send, notification: { title: '😀'.repeat(Limits.titleMaxChars + 1) } }, 'notification.title'],
    ['a message of 2049 characters', { ...send, notification: { message: 'm'.repeat(Limits.messageMaxChars + 1) } }, 'notification.message'],
    ['a null message', { ...send, notification: { title: 't', message: null } }, 'notification.message'],
    ['data as an array', { ...send, notification: { data: [1, 2] } }, 'notification.data'],
    ['data as JSON text', { ...send, notification: { data: '{"a":1}' } }, 'notification.data'],
    ['null data', { ...send, notification: { data: null } }, 'notification.data'],
    ['a ttl in days', { ...send, ttl: '1d' }, 'ttl'],
    ['an empty ttl', { ...send, ttl: '' }, 'ttl'],
    ['a ttl in seconds as a number', { ...send, ttl: 60 }, 'ttl'],
    ['a priority that is neither', { ...send, priority: 'urgent' }, 'priority'],
    ['an empty collapse_key', { ...send, collapse_key: '' }, 'collapse_key'],
    ['a collapse_key of 129 characters', { ...send, collapse_key: 'k'.repeat(Limits.collapseKeyMaxChars + 1) }, 'collapse_key'],
    ['a send_at without a zone', { ...send, send_at: '2027-01-31T09:30:00' }, 'send_at'],
    ['a send_at in words', { ...send, send_at: 'tomorrow' }, 'send_at'],
    ['a send_at as epoch seconds', { ...send, send_at: 1801386000 }, 'send_at'],
  ])('send: the document and the gateway both refuse %s', (_name, body, field) => {
    expect({ document: schema('SendRequest')(body), fields: refusal(parseSendRequest, body) }).toEqual({ document: false, fields: expect.arrayContaining([field]) });
  });

  it.each<[string, unknown, string]>([
    ['no registration_ids', { notification: { title: 't' } }, 'registration_ids'],
    ['registration_ids as a string', { ...multicast, registration_ids: 'reg-1' }, 'registration_ids'],
    ['no registration ids', { ...multicast, registration_ids: [] }, 'registration_ids'],
    [`${MULTICAST_MAX_RECIPIENTS + 1} registration ids`, { ...multicast, registration_ids: Array.from({ length: MULTICAST_MAX_RECIPIENTS + 1 }, (_, i) => `reg-${i}`) }, 'registration_ids'],
    ['a number among them', { ...multicast, registration_ids: ['reg-1', 7] }, 'registration_ids[1]'],
    ['a target', { ...multicast, target: 'reg-1' }, 'target'],
    ['a type', { ...multicast, type: 'device' }, 'type'],
    ['no notification', { registration_ids: ['reg-1'] }, 'notification'],
    ['a title of 513 characters', { ...multicast, notification: { title: 'x'.repeat(Limits.titleMaxChars + 1) } }, 'notification.title'],
    ['a ttl in days', { ...multicast, ttl: '1d' }, 'ttl'],
    ['not an object', ['reg-1'], 'body'],
  ])('multicast: the document and the gateway both refuse %s', (_name, body, field) => {
    expect({ document: schema('MulticastRequest')(body), fields: refusal(parseMulticastRequest, body) }).toEqual({ document: false, fields: expect.arrayContaining([field]) });
  });

  it.each<[string, unknown]>([
    ['the minimal Aurora body', send],
    ['a title of 512 emoji (1,024 UTF-16 units)', { ...send, notification: { title: '😀'.repeat(Limits.titleMaxChars) } }],
    ['data only', { ...send, notification: { data: { sync: true } } }],
    ['every field', { ...send, type: 'topic', target: 'news-1.eu_%7E', ttl: '5h30m', priority: 'high', collapse_key: 'news', send_at: '2027-01-31T12:10:00.250+03:00', notification: { title: 't', message: 'm', data: { a: [1, { b: null }] } } }],
    ['a ttl of 0s', { ...send, ttl: '0s' }],
  ])('send: the document and the gateway both accept %s', (_name, body) => {
    expect({ document: schema('SendRequest')(body), gateway: refusal(parseSendRequest, body) }).toEqual({ document: true, gateway: null });
  });

  it.each<[string, unknown, string]>([
    ['nothing to deliver', { ...send, notification: { title: '', message: '' } }, 'notification'],
    ['an empty notification', { ...send, notification: {} }, 'notification'],
    [`data nested deeper than ${DATA_MAX_DEPTH} levels`, { ...send, notification: { data: nest(DATA_MAX_DEPTH + 1) } }, 'notification.data'],
    [`data over ${Limits.dataMaxBytes} bytes as JSON`, { ...send, notification: { data: { k: 'é'.repeat(Limits.dataMaxBytes) } } }, 'notification.data'],
    ['a ttl over 28 days', { ...send, ttl: '673h' }, 'ttl'],
    ['a send_at beyond the TTL', { ...send, ttl: '1h', send_at: '2027-01-31T10:00:00Z' }, 'send_at'],
  ])('send: the gateway refuses what the document states only in words: %s', (_name, body, field) => {
    expect({ document: schema('SendRequest')(body), fields: refusal(parseSendRequest, body) }).toEqual({ document: true, fields: [field] });
  });

  it('describes the answers the SDK reads: a multicast result, a problem', () => {
    const result = { id: null, recipients: [{ registrationId: 'reg-1', status: 'rejected', code: 'not_found', detail: 'no live registration with this id in this project' }, { registrationId: 'reg-2', status: 'accepted' }] };
    expect(schema('MulticastResult')(result)).toBe(true);
    expect(schema('MulticastResult')({ ...result, recipients: [{ registrationId: 'reg-1', status: 'rejected' }] })).toBe(false);
    expect(schema('Problem')({ type: 'https://borealis.dev/problems/invalid_argument', title: 'Bad Request', status: 400, detail: 'invalid message', code: 'invalid_argument', errors: { target: 'is required' } })).toBe(true);
  });

  it('generates the listing and stats query parameters from the schemas the gateway parses them with', () => {
    const parameters = (path: '/projects/{project_id}/messages' | '/projects/{project_id}/stats') =>
      new Map((OPENAPI_DOCUMENT.paths[path].get.parameters as readonly unknown[] as readonly { name: string; in: string; schema: object }[]).filter((p) => p.in === 'query').map((p) => [p.name, ajv.compile(p.schema)]));
    const listing = parameters('/projects/{project_id}/messages');
    expect([...listing.keys()]).toEqual(['state', 'since', 'limit', 'cursor']);
    const accepts = (query: Record<string, string>): boolean => {
      try {
        parseMessageListParams(query);
        return true;
      } catch {
        return false;
      }
    };
    // Query values are text; the document gives `limit` as the integer it must spell.
    for (const limit of [0, 1, 20, 100, 101]) {
      const valid = limit >= 1 && limit <= 100;
      expect({ limit, document: listing.get('limit')!(limit), gateway: accepts({ limit: String(limit) }) }).toEqual({ limit, document: valid, gateway: valid });
    }
    for (const state of [...ListableMessageState.options, 'accepted', 'STORED']) expect({ state, document: listing.get('state')!(state) }).toEqual({ state, document: accepts({ state }) });
    for (const since of ['2026-01-01T00:00:00Z', '2026-01-01T01:00:00+01:00', '2026-01-01T00:00:00', 'yesterday']) expect({ since, document: listing.get('since')!(since) }).toEqual({ since, document: accepts({ since }) });

    const stats = parameters('/projects/{project_id}/stats');
    expect([...stats.keys()]).toEqual(['from', 'to']);
    for (const to of ['2026-03-01', '2026-3-1', '2026-02-30', 'today']) {
      let gateway = true;
      try {
        parseStatsRange(undefined, to, Date.UTC(2026, 2, 15));
      } catch {
        gateway = false;
      }
      expect({ to, document: stats.get('to')!(to) }).toEqual({ to, document: gateway });
    }
  });
});
