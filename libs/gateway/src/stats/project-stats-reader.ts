import { DomainError, ErrorCode, ProjectStatsV1 } from '@borealis/contracts';

/** Reads a project's per-day counters from push-core, which keeps them. Days are UTC `YYYY-MM-DD`. */
export abstract class ProjectStatsReader {
  abstract getStats(projectId: string, from: string, to: string): Promise<ProjectStatsV1>;
}

const TIMEOUT_MS = 5000;

/** Distributed mode: push-core's internal HTTP API. */
export class HttpProjectStatsReader extends ProjectStatsReader {
  private readonly baseUrl: string;

  constructor(
    pushCoreUrl: string,
    private readonly fetchFn: typeof fetch = fetch,
  ) {
    super();
    this.baseUrl = pushCoreUrl.replace(/\/+$/, '');
  }

  async getStats(projectId: string, from: string, to: string): Promise<ProjectStatsV1> {
    const query = new URLSearchParams({ from, to });
    const url = `${this.baseUrl}/internal/v1/projects/${encodeURIComponent(projectId)}/stats?${query}`;
    let response: Response;
    try {
      response = await this.fetchFn(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch {
      throw unavailable('push-core unreachable');
    }
    if (!response.ok) {
      await response.body?.cancel();
      if (response.status >= 500) throw unavailable(`push-core answered ${response.status}`);
      // The gateway validated the range: any other answer is a disagreement on the internal API, a bug.
      throw new Error(`push-core answered ${response.status} to GET ${url}`);
    }
    return ProjectStatsV1.parse(await response.json());
  }
}

function unavailable(why: string): DomainError {
  return new DomainError(ErrorCode.Unavailable, `statistics are unavailable now (${why}); retry`, { retryAfterSeconds: 1 });
}
