import { generateKeyPairSync } from 'node:crypto';
import { MulticastRequest, SendMessageRequest } from '@borealis/contracts';
import { FixedClock } from '@borealis/util';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import type { ProjectSettings } from './project-settings';
import { PushApiError } from './push-api-error';
import { joinUrl, PushServerClient } from './push-server-client';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

const settings: ProjectSettings = {
  projectId: 'proj-1',
  pushPublicAddress: null,
  apiUrl: 'https://push.example/push/public/api/v1/',
  clientId: 'client-1',
  scopes: 'openid message:update project:read',
  audience: 'push.example',
  tokenUrl: 'https://push.example/auth/public/oauth2/token',
  privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }) as string,
  keyId: 'public:key-1',
};

interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

/** A fake server: answers the token endpoint with numbered tokens, the API with `api(call)`. */
function fakeServer(api: (call: Call) => Response, tokenAnswer?: () => Response) {
  const calls: Call[] = [];
  let issued = 0;
  const fetchFn = (async (url: string, init: RequestInit) => {
    const call: Call = {
      url,
      method: init.method ?? 'GET',
      headers: init.headers as Record<string, string>,
      body: init.body === undefined ? undefined : JSON.parse(init.body as string),
    };
    calls.push(call);
    if (url === settings.tokenUrl) return tokenAnswer ? tokenAnswer() : Response.json({ access_token: `token-${++issued}`, token_type: 'Bearer', expires_in: 3600 });
    return api(call);
  }) as typeof fetch;
  return { calls, fetchFn, apiCalls: () => calls.filter((c) => c.url !== settings.tokenUrl) };
}

const problem = (status: number, code: string, detail: string, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ type: `https://borealis.dev/errors/${code}`, title: 'Title', status, detail, code }), {
    status,
    headers: { 'content-type': 'application/problem+json', ...headers },
  });

describe('PushServerClient', () => {
  it('signs an RS256 client assertion that verifies with the project public key', async () => {
    const clock = new FixedClock(1_800_000_000_000);
    const client = new PushServerClient(settings, { clock });
    const assertion = client.clientAssertion();
    expect(decodeProtectedHeader(assertion)).toEqual({ alg: 'RS256', kid: 'public:key-1', typ: 'JWT' });
    const { payload } = await jwtVerify(assertion, publicKey, {
      algorithms: ['RS256'],
      issuer: 'client-1',
      subject: 'client-1',
      audience: settings.tokenUrl,
      currentDate: new Date(clock.now()),
    });
    expect(payload.iat).toBe(1_800_000_000);
    expect(payload.exp).toBe(1_800_000_060);
    expect(payload.jti).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(client.clientAssertion()).not.toBe(assertion);
  });

  it('requests a token with the client-credentials JSON body and caches it until 60 s before expiry', async () => {
    const clock = new FixedClock(1_800_000_000_000);
    const server = fakeServer(() => Response.json({ id: 'm1' }));
    const client = new PushServerClient(settings, { fetch: server.fetchFn, clock });
    await expect(client.getAccessToken()).resolves.toBe('token-1');
    const tokenCall = server.calls[0]!;
    expect(tokenCall.method).toBe('POST');
    expect(tokenCall.headers['content-type']).toBe('application/json');
    expect(tokenCall.body).toEqual({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: expect.any(String),
      scope: 'openid message:update project:read',
      audience: 'push.example',
    });
    clock.advance(3600_000 - 60_000 - 1);
    await expect(client.getAccessToken()).resolves.toBe('token-1');
    clock.advance(1);
    await expect(client.getAccessToken()).resolves.toBe('token-2');
  });

  it('shares one token request between concurrent callers', async () => {
    const server = fakeServer(() => Response.json({}));
    const client = new PushServerClient(settings, { fetch: server.fetchFn });
    expect(await Promise.all([client.getAccessToken(), client.getAccessToken()])).toEqual(['token-1', 'token-1']);
    expect(server.calls).toHaveLength(1);
  });

  it('sends a message to the joined URL with the Aurora body', async () => {
    const server = fakeServer(() => Response.json({ id: 'm1' }));
    const client = new PushServerClient(settings, { fetch: server.fetchFn });
    const result = await client.sendMessage({ target: 'reg-1', ttl: '5h', notification: { title: 'T', message: 'M', data: { a: 1 } }, collapseKey: 'c' });
    expect(result).toEqual({ id: 'm1' });
    const [call] = server.apiCalls();
    expect(call!.url).toBe('https://push.example/push/public/api/v1/projects/proj-1/messages');
    expect(call!.headers['authorization']).toBe('Bearer token-1');
    expect(call!.body).toEqual({ target: 'reg-1', type: 'device', ttl: '5h', notification: { title: 'T', message: 'M', data: { a: 1 } }, collapse_key: 'c' });
  });

  it('sends a scheduled message with send_at in RFC 3339 (UTC), single and multicast', async () => {
    const server = fakeServer((req) => Response.json(req.url.endsWith('/multicast') ? { id: 'm2', recipients: [] } : { id: 'm1' }));
    const client = new PushServerClient(settings, { fetch: server.fetchFn });
    const sendAt = new Date('2027-01-31T09:30:00+02:00');
    await client.sendMessage({ target: 'reg-1', notification: { title: 'later' }, sendAt });
    await client.sendMulticast({ registrationIds: ['reg-1', 'reg-2'], notification: { title: 'later' }, sendAt, idempotencyKey: 'k-2' });
    expect(server.apiCalls().map((c) => (c.body as { send_at: string }).send_at)).toEqual(['2027-01-31T07:30:00.000Z', '2027-01-31T07:30:00.000Z']);
    expect(server.apiCalls()[1]!.headers['idempotency-key']).toBe('k-2');
  });

  it('sends bodies the API schemas accept, every option given (the gateway validates with the same schemas)', async () => {
    const server = fakeServer((req) => Response.json(req.url.endsWith('/multicast') ? { id: 'm2', recipients: [], addedLater: true } : { id: 'm1', addedLater: true }));
    const client = new PushServerClient(settings, { fetch: server.fetchFn });
    const common = { ttl: '5h30m', notification: { title: 'T', message: 'M', data: { a: [1] } }, priority: 'high', collapseKey: 'news', sendAt: new Date('2027-01-31T09:30:00Z'), idempotencyKey: 'k-1' } as const;
    // Fields a newer server adds to an answer are ignored, not a failure.
    await expect(client.sendMessage({ target: 'news', type: 'topic', ...common })).resolves.toEqual({ id: 'm1' });
    await expect(client.sendMulticast({ registrationIds: ['r1', 'r2'], ...common })).resolves.toEqual({ id: 'm2', recipients: [] });
    const [single, multi] = server.apiCalls();
    expect(SendMessageRequest.safeParse(single!.body).error?.issues).toBeUndefined();
    expect(MulticastRequest.safeParse(multi!.body).error?.issues).toBeUndefined();
    expect(Object.keys(single!.body as object).sort()).toEqual(['collapse_key', 'notification', 'priority', 'send_at', 'target', 'ttl', 'type']);
    expect(Object.keys(multi!.body as object).sort()).toEqual(['collapse_key', 'notification', 'priority', 'registration_ids', 'send_at', 'ttl']);
  });

  it('cancels a message: applied on 200, not yet on 202', async () => {
    const status = {
      id: 'm1',
      projectId: 'proj-1',
      state: 'cancelled',
      target: { type: 'device', value: 'r' },
      createdAt: 'a',
      expiresAt: 'b',
      cancelledAt: 'c',
      counts: { pending: 0, sent: 0, delivered: 0, expired: 0, failed: 0, cancelled: 1 },
      recipients: [],
    };
    let answer = 200;
    const server = fakeServer(() => Response.json(status, { status: answer }));
    const client = new PushServerClient(settings, { fetch: server.fetchFn });
    await expect(client.cancelMessage('m1')).resolves.toEqual({ applied: true, status });
    answer = 202;
    await expect(client.cancelMessage('m1')).resolves.toEqual({ applied: false, status });
    expect(server.apiCalls().map((c) => [c.method, c.url])).toEqual([
      ['DELETE', 'https://push.example/push/public/api/v1/projects/proj-1/messages/m1'],
      ['DELETE', 'https://push.example/push/public/api/v1/projects/proj-1/messages/m1'],
    ]);
  });

  it('sends a multicast with registration_ids and reads each recipient', async () => {
    const answer = { id: 'm1', recipients: [{ registrationId: 'r1', status: 'accepted' }, { registrationId: 'r2', status: 'rejected', code: 'not_found', detail: 'd' }] };
    const server = fakeServer(() => Response.json(answer));
    const client = new PushServerClient(settings, { fetch: server.fetchFn });
    await expect(client.sendMulticast({ registrationIds: ['r1', 'r2'], ttl: '1h', notification: { title: 'T' } })).resolves.toEqual(answer);
    const [call] = server.apiCalls();
    expect([call!.method, call!.url]).toEqual(['POST', 'https://push.example/push/public/api/v1/projects/proj-1/messages/multicast']);
    expect(call!.body).toEqual({ registration_ids: ['r1', 'r2'], ttl: '1h', notification: { title: 'T' } });
  });

  it('lists messages with the given filters and cursor', async () => {
    const page = { projectId: 'proj-1', messages: [], nextCursor: null };
    const server = fakeServer(() => Response.json(page));
    const client = new PushServerClient(settings, { fetch: server.fetchFn });
    await expect(client.listMessages({ state: 'cancelled', since: '2026-01-01T00:00:00Z', limit: 5, cursor: 'abc' })).resolves.toEqual(page);
    await expect(client.listMessages()).resolves.toEqual(page);
    expect(server.apiCalls().map((c) => c.url)).toEqual([
      'https://push.example/push/public/api/v1/projects/proj-1/messages?state=cancelled&since=2026-01-01T00%3A00%3A00Z&limit=5&cursor=abc',
      'https://push.example/push/public/api/v1/projects/proj-1/messages',
    ]);
  });

  it('shows, lists the topics of and deletes a registration', async () => {
    const registration = {
      registrationId: 'reg/1',
      projectId: 'proj-1',
      applicationId: 'app',
      createdAt: 'a',
      lastSeenAt: 'b',
      unregisteredAt: null,
      online: false,
      topicCount: 0,
      topics: [],
    };
    const topics = { registrationId: 'reg/1', projectId: 'proj-1', topics: [] };
    const server = fakeServer((call) => Response.json(call.url.endsWith('/topics') ? topics : registration));
    const client = new PushServerClient(settings, { fetch: server.fetchFn });
    await expect(client.getRegistration('reg/1')).resolves.toEqual(registration);
    await expect(client.getRegistrationTopics('reg/1')).resolves.toEqual(topics);
    await expect(client.deleteRegistration('reg/1')).resolves.toEqual({ applied: true, registration });
    expect(server.apiCalls().map((c) => [c.method, c.url])).toEqual([
      ['GET', 'https://push.example/push/public/api/v1/projects/proj-1/registrations/reg%2F1'],
      ['GET', 'https://push.example/push/public/api/v1/projects/proj-1/registrations/reg%2F1/topics'],
      ['DELETE', 'https://push.example/push/public/api/v1/projects/proj-1/registrations/reg%2F1'],
    ]);
  });

  it('reads the project and a message status', async () => {
    const project = { id: 'proj-1', name: 'Demo', isActive: true, serviceAccount: null, createdAt: 'a', updatedAt: 'b' };
    const status = {
      id: 'm/1',
      projectId: 'proj-1',
      state: 'sent',
      target: { type: 'device', value: 'r' },
      createdAt: 'a',
      expiresAt: 'b',
      cancelledAt: null,
      counts: { pending: 0, sent: 1, delivered: 0, expired: 0, failed: 0, cancelled: 0 },
      recipients: [],
    };
    const server = fakeServer((call) => Response.json(call.url.endsWith('/projects/proj-1') ? project : status));
    const client = new PushServerClient(settings, { fetch: server.fetchFn });
    await expect(client.getProject()).resolves.toEqual(project);
    await expect(client.getMessageStatus('m/1')).resolves.toEqual(status);
    expect(server.apiCalls().map((c) => c.url)).toEqual([
      'https://push.example/push/public/api/v1/projects/proj-1',
      'https://push.example/push/public/api/v1/projects/proj-1/messages/m%2F1',
    ]);
  });

  it('sends group targets with an Idempotency-Key, (un)subscribes topics and reads statistics', async () => {
    const stats = { projectId: 'proj-1', from: '2026-01-01', to: '2026-01-02', days: [] };
    const server = fakeServer((call) => {
      if (call.url.includes('/topics/')) return Response.json({ requestId: 'q1' }, { status: 202 });
      if (call.url.includes('/stats')) return Response.json(stats);
      return Response.json({ id: 'm1' });
    });
    const client = new PushServerClient(settings, { fetch: server.fetchFn });
    await client.sendMessage({ target: 'news', type: 'topic', notification: { title: 'T', message: 'M' }, idempotencyKey: 'k-1' });
    await expect(client.setTopicSubscription('reg 1', 'news', true)).resolves.toEqual({ requestId: 'q1' });
    await expect(client.setTopicSubscription('reg 1', 'news', false)).resolves.toEqual({ requestId: 'q1' });
    await expect(client.getStats({ from: '2026-01-01', to: '2026-01-02' })).resolves.toEqual(stats);
    const calls = server.apiCalls();
    expect(calls[0]!.headers['idempotency-key']).toBe('k-1');
    expect(calls[0]!.body).toMatchObject({ type: 'topic', target: 'news' });
    expect(calls.slice(1).map((c) => `${c.method} ${c.url}`)).toEqual([
      'POST https://push.example/push/public/api/v1/projects/proj-1/registrations/reg%201/topics/news',
      'DELETE https://push.example/push/public/api/v1/projects/proj-1/registrations/reg%201/topics/news',
      'GET https://push.example/push/public/api/v1/projects/proj-1/stats?from=2026-01-01&to=2026-01-02',
    ]);
  });

  it('turns problem+json into a PushApiError with status, code, title, detail and Retry-After', async () => {
    const server = fakeServer(() => problem(429, 'rate_limited', 'slow down', { 'retry-after': '7' }));
    const client = new PushServerClient(settings, { fetch: server.fetchFn });
    const err = await client.sendMessage({ target: 'r', notification: { title: 't', message: 'm' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PushApiError);
    expect(err).toMatchObject({ status: 429, code: 'rate_limited', title: 'Title', detail: 'slow down', retryAfterSeconds: 7 });
  });

  it('turns an OAuth error from the token endpoint into a PushApiError', async () => {
    const server = fakeServer(
      () => Response.json({}),
      () => Response.json({ error: 'invalid_client', error_description: 'unknown key' }, { status: 401 }),
    );
    const client = new PushServerClient(settings, { fetch: server.fetchFn });
    await expect(client.getProject()).rejects.toMatchObject({ status: 401, code: 'invalid_client', detail: 'unknown key' });
    expect(server.apiCalls()).toHaveLength(0);
  });

  it('retries once with a fresh token when the API answers 401', async () => {
    const server = fakeServer((call) => (call.headers['authorization'] === 'Bearer token-1' ? problem(401, 'unauthenticated', 'expired') : Response.json({ id: 'm1' })));
    const client = new PushServerClient(settings, { fetch: server.fetchFn });
    await expect(client.sendMessage({ target: 'r', notification: { title: 't', message: 'm' } })).resolves.toEqual({ id: 'm1' });
    expect(server.apiCalls().map((c) => c.headers['authorization'])).toEqual(['Bearer token-1', 'Bearer token-2']);
  });

  it('reports network failures and unexpected answers as PushApiError', async () => {
    const down = new PushServerClient(settings, { fetch: (async () => Promise.reject(new TypeError('fetch failed'))) as typeof fetch });
    await expect(down.getAccessToken()).rejects.toMatchObject({ status: 0, code: 'unavailable' });
    const odd = new PushServerClient(settings, { fetch: fakeServer(() => Response.json({ nope: true })).fetchFn });
    await expect(odd.sendMessage({ target: 'r', notification: { title: 't', message: 'm' } })).rejects.toMatchObject({ status: 200, code: 'invalid_response' });
    const html = new PushServerClient(settings, { fetch: fakeServer(() => new Response('<html>', { status: 502 })).fetchFn });
    await expect(html.getProject()).rejects.toMatchObject({ status: 502, code: 'http_502', detail: '<html>' });
  });
});

describe('joinUrl', () => {
  it.each([
    ['https://h/push/public/api/v1/', 'https://h/push/public/api/v1/projects/p'],
    ['https://h/push/public/api/v1', 'https://h/push/public/api/v1/projects/p'],
    ['https://h/push/public/api/v1//', 'https://h/push/public/api/v1/projects/p'],
  ])('joins %s without a doubled slash', (base, expected) => {
    expect(joinUrl(base, ['projects', 'p'])).toBe(expected);
  });

  it('encodes each segment', () => {
    expect(joinUrl('https://h/', ['projects', 'a b', 'messages', '../x'])).toBe('https://h/projects/a%20b/messages/..%2Fx');
  });

  it.each(['', '.', '..'])('refuses the segment %p, which URL parsing would resolve away', (segment) => {
    expect(() => joinUrl('https://h/', ['projects', segment])).toThrow(RangeError);
  });
});
