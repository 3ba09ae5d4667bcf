import { DomainError, ErrorCode, type ProjectStatsV1 } from '@borealis/contracts';
import { HttpProjectStatsReader } from './project-stats-reader';

const stats: ProjectStatsV1 = { projectId: 'p 1', from: '2026-01-01', to: '2026-01-02', days: [{ date: '2026-01-01', accepted: 3, delivered: 2, expired: 0, failed: 1, cancelled: 0 }] };

function reader(answer: () => Promise<Response>) {
  const urls: string[] = [];
  const fetchFn = (async (url: string) => {
    urls.push(url);
    return answer();
  }) as typeof fetch;
  return { reader: new HttpProjectStatsReader('http://push-core:8080/', fetchFn), urls };
}

describe('HttpProjectStatsReader', () => {
  it('reads the counters from the internal API', async () => {
    const { reader: r, urls } = reader(async () => Response.json(stats));
    await expect(r.getStats('p 1', '2026-01-01', '2026-01-02')).resolves.toEqual(stats);
    expect(urls).toEqual(['http://push-core:8080/internal/v1/projects/p%201/stats?from=2026-01-01&to=2026-01-02']);
  });

  it('maps network errors and 5xx to unavailable, and refuses a body that is not ProjectStatsV1', async () => {
    for (const answer of [async () => Promise.reject(new TypeError('fetch failed')), async () => new Response('', { status: 502 })]) {
      const err = await reader(answer).reader.getStats('p', '2026-01-01', '2026-01-01').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DomainError);
      expect((err as DomainError).code).toBe(ErrorCode.Unavailable);
    }
    await expect(reader(async () => Response.json({ ...stats, days: [{ date: 'x', accepted: -1 }] })).reader.getStats('p', 'a', 'b')).rejects.toThrow();
  });
});
