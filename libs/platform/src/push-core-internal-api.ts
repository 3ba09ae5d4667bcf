import { DomainError, ErrorCode } from '@borealis/contracts';

/**
 * A client of push-core's internal HTTP API (`/internal/v1/projects/:projectId/…`, distributed
 * mode), for the services that read what push-core owns: the gateway for the push API, auth for
 * the console. One answer policy for all of them: push-core unreachable or answering 5xx is
 * Unavailable (retryable); any other non-2xx means the two services disagree on the internal API,
 * a bug, not input.
 */
export class PushCoreInternalApi {
  private readonly baseUrl: string;

  constructor(
    pushCoreUrl: string,
    private readonly fetchFn: typeof fetch = fetch,
    private readonly timeoutMs = 10_000,
  ) {
    this.baseUrl = pushCoreUrl.replace(/\/+$/, '');
  }

  /**
   * The JSON answer to GET (or, with `body`, POST of that JSON) `path` under the project; undefined
   * (which no JSON answer is) for a 404 where `notFoundIsNull`. `what` names the data in the Unavailable error, like "statistics".
   */
  async request(projectId: string, path: string, { what, notFoundIsNull = false, body }: { what: string; notFoundIsNull?: boolean; body?: unknown }): Promise<unknown> {
    const url = `${this.baseUrl}/internal/v1/projects/${encodeURIComponent(projectId)}/${path}`;
    const method = body === undefined ? 'GET' : 'POST';
    let response: Response;
    try {
      response = await this.fetchFn(
        url,
        body === undefined
          ? { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(this.timeoutMs) }
          : { method, headers: { accept: 'application/json', 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(this.timeoutMs) },
      );
    } catch {
      throw unavailable(what, 'push-core unreachable');
    }
    if (!response.ok) {
      await response.body?.cancel();
      if (response.status === 404 && notFoundIsNull) return undefined;
      if (response.status >= 500) throw unavailable(what, `push-core answered ${response.status}`);
      throw new Error(`push-core answered ${response.status} to ${method} ${url}`);
    }
    return response.json();
  }
}

function unavailable(what: string, why: string): DomainError {
  return new DomainError(ErrorCode.Unavailable, `${what} are unavailable now (${why}); retry`, { retryAfterSeconds: 1 });
}
