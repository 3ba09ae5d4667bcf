import { DomainError, ErrorCode, messageListQuery } from '@borealis/contracts';
import { PushCoreInternalApi } from './push-core-internal-api';

function api(answer: () => Promise<Response>) {
  const calls: { url: string; init: RequestInit | undefined }[] = [];
  const fetchFn = (async (url: string, init?: RequestInit) => {
    calls.push({ url, init });
    return answer();
  }) as typeof fetch;
  return { client: new PushCoreInternalApi('http://push-core:8080/', fetchFn, 1000), calls };
}

describe('PushCoreInternalApi', () => {
  it('GETs a path under the project (id encoded) and answers the JSON', async () => {
    const { client, calls } = api(async () => Response.json({ ok: 1 }));
    await expect(client.request('p 1', 'stats?from=2026-01-01', { what: 'statistics' })).resolves.toEqual({ ok: 1 });
    expect(calls[0]!.url).toBe('http://push-core:8080/internal/v1/projects/p%201/stats?from=2026-01-01');
    expect(calls[0]!.init?.method).toBeUndefined();
  });

  it('POSTs a body as JSON', async () => {
    const { client, calls } = api(async () => Response.json({ registrationIds: [] }));
    await client.request('p1', 'registrations/live', { what: 'registrations', body: { registrationIds: ['r1'] } });
    expect(calls[0]!.init).toMatchObject({ method: 'POST', body: '{"registrationIds":["r1"]}' });
  });

  it('answers undefined for a 404 only where asked; otherwise a 4xx is a bug naming the method and URL', async () => {
    await expect(api(async () => new Response(null, { status: 404 })).client.request('p1', 'messages/m1', { what: 'message statuses', notFoundIsNull: true })).resolves.toBeUndefined();
    await expect(api(async () => new Response(null, { status: 404 })).client.request('p1', 'registrations/live', { what: 'registrations', body: {} })).rejects.toThrow(
      'push-core answered 404 to POST http://push-core:8080/internal/v1/projects/p1/registrations/live',
    );
  });

  it('is Unavailable, retryable, when push-core is unreachable or answers 5xx', async () => {
    const down = api(async () => {
      throw new TypeError('fetch failed');
    });
    const refused = down.client.request('p1', 'stats', { what: 'statistics' });
    await expect(refused).rejects.toBeInstanceOf(DomainError);
    await expect(refused).rejects.toMatchObject({ code: ErrorCode.Unavailable, message: 'statistics are unavailable now (push-core unreachable); retry' });
    await expect(api(async () => new Response(null, { status: 503 })).client.request('p1', 'stats', { what: 'statistics' })).rejects.toMatchObject({
      code: ErrorCode.Unavailable,
      message: 'statistics are unavailable now (push-core answered 503); retry',
    });
  });

  it('takes a listing page request as the query contracts serialise', () => {
    expect(String(messageListQuery({ limit: 20, state: 'delivered', sinceMs: 5 }))).toBe('limit=20&state=delivered&sinceMs=5');
  });
});
