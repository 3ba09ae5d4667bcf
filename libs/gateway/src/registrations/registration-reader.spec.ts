import { DomainError, ErrorCode, type RegistrationInfoV1 } from '@borealis/contracts';
import { HttpRegistrationReader } from './registration-reader';

const registration: RegistrationInfoV1 = {
  registrationId: 'reg_1',
  projectId: 'p 1',
  applicationId: 'app_1',
  createdAt: '2026-01-01T00:00:00.000Z',
  lastSeenAt: '2026-01-01T00:00:01.000Z',
  unregisteredAt: null,
  online: true,
  topicCount: 1,
  topics: ['news'],
};

function reader(answer: () => Promise<Response>) {
  const urls: string[] = [];
  const fetchFn = (async (url: string) => {
    urls.push(url);
    return answer();
  }) as typeof fetch;
  return { reader: new HttpRegistrationReader('http://push-core:8080/', fetchFn), urls };
}

describe('HttpRegistrationReader', () => {
  it('reads a registration and its topics from the internal API, by project', async () => {
    const { reader: r, urls } = reader(async () => Response.json(registration));
    await expect(r.getRegistration('p 1', 'reg_1')).resolves.toEqual(registration);
    const topics = { registrationId: 'reg_1', projectId: 'p 1', topics: [{ topic: 'news', subscribedAt: '2026-01-01T00:00:00.000Z' }] };
    const second = reader(async () => Response.json(topics));
    await expect(second.reader.getTopics('p 1', 'reg_1')).resolves.toEqual(topics);
    expect([...urls, ...second.urls]).toEqual([
      'http://push-core:8080/internal/v1/projects/p%201/registrations/reg_1',
      'http://push-core:8080/internal/v1/projects/p%201/registrations/reg_1/topics',
    ]);
  });

  it('maps 404 to null, network errors and 5xx to unavailable, and refuses a body that does not match', async () => {
    await expect(reader(async () => new Response('{}', { status: 404 })).reader.getRegistration('p1', 'r')).resolves.toBeNull();
    for (const answer of [async () => Promise.reject(new TypeError('fetch failed')), async () => new Response('', { status: 503 })]) {
      const err = await reader(answer).reader.getRegistration('p1', 'r').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DomainError);
      expect((err as DomainError).code).toBe(ErrorCode.Unavailable);
    }
    await expect(reader(async () => Response.json({ ...registration, online: 'yes' })).reader.getRegistration('p1', 'r')).rejects.toThrow();
  });
});
