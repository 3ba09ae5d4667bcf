import { DomainError, ErrorCode, type MessageStatusV1 } from '@borealis/contracts';
import { HttpMessageStatusReader } from './message-status-reader';

const status: MessageStatusV1 = {
  id: 'm1',
  projectId: 'p1',
  state: 'sent',
  target: { type: 'device', value: 'reg-1' },
  createdAt: '2026-01-01T00:00:00.000Z',
  expiresAt: '2026-01-02T00:00:00.000Z',
  cancelledAt: null,
  counts: { pending: 0, sent: 1, delivered: 0, expired: 0, failed: 0, cancelled: 0 },
  recipients: [{ registrationId: 'reg-1', state: 'sent', updatedAt: '2026-01-01T00:00:01.000Z' }],
};

function reader(answer: () => Promise<Response>) {
  const urls: string[] = [];
  const fetchFn = (async (url: string) => {
    urls.push(url);
    return answer();
  }) as typeof fetch;
  return { reader: new HttpMessageStatusReader('http://push-core:8080/', fetchFn), urls };
}

describe('HttpMessageStatusReader', () => {
  it('reads the status from the internal API', async () => {
    const { reader: r, urls } = reader(async () => Response.json(status));
    await expect(r.getStatus('p 1', 'm1')).resolves.toEqual(status);
    expect(urls).toEqual(['http://push-core:8080/internal/v1/projects/p%201/messages/m1']);
  });

  it('maps 404 to null', async () => {
    const { reader: r } = reader(async () => new Response('{}', { status: 404 }));
    await expect(r.getStatus('p1', 'm1')).resolves.toBeNull();
  });

  it('maps network errors and 5xx to unavailable', async () => {
    for (const answer of [async () => Promise.reject(new TypeError('fetch failed')), async () => new Response('', { status: 503 })]) {
      const err = await reader(answer).reader.getStatus('p1', 'm1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DomainError);
      expect((err as DomainError).code).toBe(ErrorCode.Unavailable);
    }
  });

  it('refuses a body that does not match MessageStatusV1', async () => {
    const { reader: r } = reader(async () => Response.json({ ...status, state: 'lost' }));
    await expect(r.getStatus('p1', 'm1')).rejects.toThrow();
  });
});
