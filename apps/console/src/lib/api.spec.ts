import { ApiClient, ProblemError, describeError, needsCsrf, problemOf, withQuery, type FetchLike } from './api';

interface Call {
  url: string;
  init: RequestInit;
}

function fakeFetch(answers: Response[]): { fetch: FetchLike; calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    fetch: async (url, init) => {
      calls.push({ url, init: init ?? {} });
      const next = answers.shift();
      if (!next) throw new Error('no answer left');
      return next;
    },
  };
}

const json = (status: number, body: unknown, type = 'application/json') => new Response(JSON.stringify(body), { status, headers: { 'content-type': type } });
const headersOf = (call: Call) => call.init.headers as Record<string, string>;

describe('the console API client', () => {
  it('sends the CSRF token on every state-changing call and never on reads', async () => {
    const { fetch, calls } = fakeFetch([json(200, []), json(200, {}), json(200, {}), new Response(null, { status: 204 })]);
    const api = new ApiClient({ fetch });
    api.setCsrfToken('csrf-1');
    await api.get('tenants');
    await api.post('tenants', { name: 'a' });
    await api.patch('projects/p1', { isActive: false });
    await api.delete('projects/p1/service-accounts/keys/k1');
    expect(calls.map((c) => [c.init.method, headersOf(c)['x-csrf-token']])).toEqual([
      ['GET', undefined],
      ['POST', 'csrf-1'],
      ['PATCH', 'csrf-1'],
      ['DELETE', 'csrf-1'],
    ]);
    expect(calls[0]!.url).toBe('/auth/admin/v1/tenants');
    expect(calls.every((c) => c.init.credentials === 'same-origin')).toBe(true);
    expect(calls[1]!.init.body).toBe('{"name":"a"}');
    expect(headersOf(calls[1]!)['content-type']).toBe('application/json');
  });

  it('answers undefined for 204 and the parsed body otherwise', async () => {
    const { fetch } = fakeFetch([new Response(null, { status: 204 }), json(200, { id: 'x' })]);
    const api = new ApiClient({ fetch });
    await expect(api.delete('x')).resolves.toBeUndefined();
    await expect(api.get('y')).resolves.toEqual({ id: 'x' });
  });

  it('rejects with the server’s problem details, field errors included', async () => {
    const problem = { type: 'about:blank', title: 'Bad Request', status: 400, detail: 'invalid request body: name', code: 'invalid_argument', errors: { name: 'Too small' } };
    const { fetch } = fakeFetch([json(400, problem, 'application/problem+json')]);
    const api = new ApiClient({ fetch });
    const error = await api.post('tenants', { name: '' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProblemError);
    expect((error as ProblemError).problem).toEqual({ status: 400, title: 'Bad Request', detail: 'invalid request body: name', code: 'invalid_argument', errors: { name: 'Too small' } });
  });

  it('reports a 401 of a signed-in call as the session’s end, but not a 401 it expects', async () => {
    const ended: string[] = [];
    const unauthenticated = () => json(401, { title: 'Unauthorized', status: 401, detail: 'session expired', code: 'unauthenticated' });
    const { fetch } = fakeFetch([unauthenticated(), unauthenticated()]);
    const api = new ApiClient({ fetch, onUnauthenticated: (p) => ended.push(p.detail) });
    await expect(api.request('GET', 'console/session', undefined, true)).rejects.toMatchObject({ status: 401 });
    expect(ended).toEqual([]);
    await expect(api.get('tenants')).rejects.toMatchObject({ code: 'unauthenticated' });
    expect(ended).toEqual(['session expired']);
  });

  it('turns an unreachable server into a problem too', async () => {
    const api = new ApiClient({
      fetch: () => Promise.reject(new TypeError('Failed to fetch')),
    });
    await expect(api.get('tenants')).rejects.toMatchObject({ problem: { status: 0, code: 'unavailable' } });
  });
});

describe('problemOf', () => {
  it('describes an answer that is not problem+json', async () => {
    expect(await problemOf(new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }))).toEqual({
      status: 502,
      title: 'Bad Gateway',
      detail: 'The server answered 502 Bad Gateway.',
      code: 'unknown',
    });
  });
  it('keeps the error id of an internal error', async () => {
    const p = await problemOf(json(500, { title: 'Internal', status: 500, detail: 'internal error', code: 'internal', errorId: 'e-1' }));
    expect(p.errorId).toBe('e-1');
  });
});

describe('helpers', () => {
  it('needsCsrf for everything but GET, HEAD and OPTIONS', () => {
    expect(['GET', 'head', 'OPTIONS'].map(needsCsrf)).toEqual([false, false, false]);
    expect(['POST', 'PUT', 'PATCH', 'delete'].map(needsCsrf)).toEqual([true, true, true, true]);
  });
  it('withQuery leaves out empty values and encodes the rest', () => {
    expect(withQuery('p/messages', { limit: 20, state: '', cursor: undefined, since: null })).toBe('p/messages?limit=20');
    expect(withQuery('stats', { from: '2026-01-01', to: 'a&b' })).toBe('stats?from=2026-01-01&to=a%26b');
    expect(withQuery('x')).toBe('x');
  });
  it('describeError covers thrown non-problems', () => {
    expect(describeError(new Error('boom'))).toMatchObject({ detail: 'boom', code: 'unknown' });
    expect(describeError('text')).toMatchObject({ detail: 'text' });
  });
});
