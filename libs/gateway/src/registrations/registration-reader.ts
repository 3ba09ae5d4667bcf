import { RegistrationInfoV1, RegistrationTopicsV1 } from '@borealis/contracts';
import { PushCoreInternalApi } from '@borealis/platform';
import { z } from 'zod';

/** Reads registrations from push-core, which owns them. Null when the project has no such registration. */
export abstract class RegistrationReader {
  abstract getRegistration(projectId: string, registrationId: string): Promise<RegistrationInfoV1 | null>;
  abstract getTopics(projectId: string, registrationId: string): Promise<RegistrationTopicsV1 | null>;
  /** Which of these ids (at most 1,000) are live registrations of the project. */
  abstract liveOf(projectId: string, registrationIds: readonly string[]): Promise<Set<string>>;
}

const LiveRegistrations = z.object({ registrationIds: z.array(z.string()) });

/** Distributed mode: push-core's internal HTTP API. */
export class HttpRegistrationReader extends RegistrationReader {
  private readonly api: PushCoreInternalApi;

  constructor(pushCoreUrl: string, fetchFn: typeof fetch = fetch) {
    super();
    this.api = new PushCoreInternalApi(pushCoreUrl, fetchFn, 5000);
  }

  getRegistration(projectId: string, registrationId: string): Promise<RegistrationInfoV1 | null> {
    return this.read(RegistrationInfoV1, projectId, registrationId, '');
  }

  getTopics(projectId: string, registrationId: string): Promise<RegistrationTopicsV1 | null> {
    return this.read(RegistrationTopicsV1, projectId, registrationId, '/topics');
  }

  async liveOf(projectId: string, registrationIds: readonly string[]): Promise<Set<string>> {
    const body = await this.api.request(projectId, 'registrations/live', { what: 'registrations', body: { registrationIds } });
    return new Set(LiveRegistrations.parse(body).registrationIds);
  }

  private async read<T>(schema: z.ZodType<T>, projectId: string, registrationId: string, suffix: string): Promise<T | null> {
    const body = await this.api.request(projectId, `registrations/${encodeURIComponent(registrationId)}${suffix}`, { what: 'registrations', notFoundIsNull: true });
    return body === undefined ? null : schema.parse(body);
  }
}
