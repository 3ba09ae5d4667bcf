import { ProjectStatsV1 } from '@borealis/contracts';
import { PushCoreInternalApi } from '@borealis/platform';

/** Reads a project's per-day counters from push-core, which keeps them. Days are UTC `YYYY-MM-DD`. */
export abstract class ProjectStatsReader {
  abstract getStats(projectId: string, from: string, to: string): Promise<ProjectStatsV1>;
}

/** Distributed mode: push-core's internal HTTP API. */
export class HttpProjectStatsReader extends ProjectStatsReader {
  private readonly api: PushCoreInternalApi;

  constructor(pushCoreUrl: string, fetchFn: typeof fetch = fetch) {
    super();
    this.api = new PushCoreInternalApi(pushCoreUrl, fetchFn, 5000);
  }

  // The gateway validated the range: push-core refusing it is a bug (PushCoreInternalApi throws).
  async getStats(projectId: string, from: string, to: string): Promise<ProjectStatsV1> {
    return ProjectStatsV1.parse(await this.api.request(projectId, `stats?${new URLSearchParams({ from, to })}`, { what: 'statistics' }));
  }
}
