import { DomainError, ErrorCode, RegistrationInfoV1, RegistrationTopicsV1 } from '@borealis/contracts';
import { z } from 'zod';

/** Reads registrations from push-core, which owns them. Null when the project has no such registration. */
export abstract class RegistrationReader {
  abstract getRegistration(projectId: string, registrationId: string): Promise<RegistrationInfoV1 | null>;
  abstract getTopics(projectId: string, registrationId: string): Promise<RegistrationTopicsV1 | null>;
  /** Which of these ids (at most 1,000) are live registrations of the project. */
  abstract liveOf(projectId: string, registrationIds: readonly string[]): Promise<Set<string>>;
}

const LiveRegistrations = z.object({ registrationIds: z.array(z.string()) });

const TIMEOUT_MS = 5000;

/** Distributed mode: push-core's internal HTTP API. */
export class HttpRegistrationReader extends RegistrationReader {
  private readonly baseUrl: string;

  constructor(
    pushCoreUrl: string,
    private readonly fetchFn: typeof fetch = fetch,
  ) {
    super();
    this.baseUrl = pushCoreUrl.replace(/\/+$/, '');
  }

  getRegistration(projectId: string, registrationId: string): Promise<RegistrationInfoV1 | null> {
    return this.read(RegistrationInfoV1, projectId, registrationId, '');
  }

  getTopics(projectId: string, registrationId: string): Promise<RegistrationTopicsV1 | null> {
    return this.read(RegistrationTopicsV1, projectId, registrationId, '/topics');
  }

  async liveOf(projectId: string, registrationIds: readonly string[]): Promise<Set<string>> {
    const url = `${this.baseUrl}/internal/v1/projects/${encodeURIComponent(projectId)}/registrations/live`;
    let response: Response;
    try {
      response = await this.fetchFn(url, {
        method: 'POST',
        headers: { accept: 'application/json', 'content-type': 'application/json' },
        body: JSON.stringify({ registrationIds }),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch {
      throw unavailable('push-core unreachable');
    }
    if (!response.ok) {
      await response.body?.cancel();
      if (response.status >= 500) throw unavailable(`push-core answered ${response.status}`);
      throw new Error(`push-core answered ${response.status} to POST ${url}`);
    }
    return new Set(LiveRegistrations.parse(await response.json()).registrationIds);
  }

  private async read<T>(schema: z.ZodType<T>, projectId: string, registrationId: string, suffix: string): Promise<T | null> {
    const url = `${this.baseUrl}/internal/v1/projects/${encodeURIComponent(projectId)}/registrations/${encodeURIComponent(registrationId)}${suffix}`;
    let response: Response;
    try {
      response = await this.fetchFn(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch {
      throw unavailable('push-core unreachable');
    }
    if (!response.ok) {
      await response.body?.cancel();
      if (response.status === 404) return null;
      if (response.status >= 500) throw unavailable(`push-core answered ${response.status}`);
      // Any other answer means the two services disagree on the internal API: a bug, not input.
      throw new Error(`push-core answered ${response.status} to GET ${url}`);
    }
    return schema.parse(await response.json());
  }
}

function unavailable(why: string): DomainError {
  return new DomainError(ErrorCode.Unavailable, `registrations are unavailable now (${why}); retry`, { retryAfterSeconds: 1 });
}
