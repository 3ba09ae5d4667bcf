import { ErrorCode } from '@borealis/contracts';
import { HttpPushCoreReads } from './push-core-reads';

describe("HttpPushCoreReads (push-core's internal API, distributed mode)", () => {
  const calls: string[] = [];
  const answer = (status: number, body: unknown) => async (url: string | URL | Request) => {
    calls.push(String(url));
    return new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  };

  beforeEach(() => void (calls.length = 0));

  it('asks the project-scoped internal routes, ids and parameters encoded', async () => {
    const reads = new HttpPushCoreReads('http://push-core:8080/', answer(200, { applications: { app_1: 3 } }) as typeof fetch);
    await expect(reads.registrationCounts('p/1')).resolves.toEqual({ applications: { app_1: 3 } });
    expect(calls).toEqual(['http://push-core:8080/internal/v1/projects/p%2F1/registration-counts']);
    const list = new HttpPushCoreReads('http://push-core:8080', answer(200, { projectId: 'p1', messages: [], nextCursor: null }) as typeof fetch);
    await list.listMessages('p1', { limit: 5, state: 'failed', sinceMs: 1000, after: null });
    expect(calls[1]).toBe('http://push-core:8080/internal/v1/projects/p1/messages?limit=5&state=failed&sinceMs=1000');
  });

  it('reads a 404 status as no such message, a 5xx or no answer as unavailable (503), anything else as a bug', async () => {
    await expect(new HttpPushCoreReads('http://pc', answer(404, undefined) as typeof fetch).getStatus('p1', 'm1')).resolves.toBeNull();
    await expect(new HttpPushCoreReads('http://pc', answer(503, undefined) as typeof fetch).getStats('p1', '2026-01-01', '2026-01-02')).rejects.toMatchObject({ code: ErrorCode.Unavailable });
    const unreachable = (async () => {
      throw new TypeError('fetch failed');
    }) as typeof fetch;
    await expect(new HttpPushCoreReads('http://pc', unreachable).registrationCounts('p1')).rejects.toMatchObject({ code: ErrorCode.Unavailable });
    await expect(new HttpPushCoreReads('http://pc', answer(400, { code: 'invalid_argument' }) as typeof fetch).registrationCounts('p1')).rejects.toThrow(/push-core answered 400/);
  });

  it('refuses an answer that is not what the internal API promises', async () => {
    await expect(new HttpPushCoreReads('http://pc', answer(200, { applications: { app_1: -1 } }) as typeof fetch).registrationCounts('p1')).rejects.toThrow();
  });
});
