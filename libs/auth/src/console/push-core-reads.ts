import { DomainError, encodeMessageCursor, ErrorCode, MessageListV1, MessageStatusV1, ProjectStatsV1, RegistrationCountsV1, type MessageListParams } from '@borealis/contracts';

/**
 * What the console reads from push-core, which owns messages, statistics and registrations: the
 * same answers the push API gives an app server (docs/api.md). In distributed mode push-core's
 * internal HTTP API (`PUSH_CORE_URL`), as the gateway reads it; standalone, the composition
 * provides push-core's queries in process.
 */
export abstract class PushCoreReads {
  abstract listMessages(projectId: string, params: MessageListParams): Promise<MessageListV1>;
  /** Null when push-core knows no such message in this project. */
  abstract getStatus(projectId: string, messageId: string): Promise<MessageStatusV1 | null>;
  abstract getStats(projectId: string, from: string, to: string): Promise<ProjectStatsV1>;
  abstract registrationCounts(projectId: string): Promise<RegistrationCountsV1>;
}

const TIMEOUT_MS = 10_000;

/** Distributed mode: push-core's internal HTTP API. */
export class HttpPushCoreReads extends PushCoreReads {
  private readonly baseUrl: string;

  constructor(
    pushCoreUrl: string,
    private readonly fetchFn: typeof fetch = fetch,
  ) {
    super();
    this.baseUrl = pushCoreUrl.replace(/\/+$/, '');
  }

  async listMessages(projectId: string, params: MessageListParams): Promise<MessageListV1> {
    const query = new URLSearchParams({ limit: String(params.limit) });
    if (params.state !== undefined) query.set('state', params.state);
    if (params.sinceMs !== undefined) query.set('sinceMs', String(params.sinceMs));
    if (params.after) query.set('cursor', encodeMessageCursor(params.after));
    return MessageListV1.parse(await this.get(projectId, `messages?${query}`, 'message listings'));
  }

  async getStatus(projectId: string, messageId: string): Promise<MessageStatusV1 | null> {
    const body = await this.get(projectId, `messages/${encodeURIComponent(messageId)}`, 'message statuses', true);
    return body === null ? null : MessageStatusV1.parse(body);
  }

  async getStats(projectId: string, from: string, to: string): Promise<ProjectStatsV1> {
    return ProjectStatsV1.parse(await this.get(projectId, `stats?${new URLSearchParams({ from, to })}`, 'statistics'));
  }

  async registrationCounts(projectId: string): Promise<RegistrationCountsV1> {
    return RegistrationCountsV1.parse(await this.get(projectId, 'registration-counts', 'registration counts'));
  }

  /** The JSON answer, or null for a 404 where `notFoundIsNull`. */
  private async get(projectId: string, path: string, what: string, notFoundIsNull = false): Promise<unknown> {
    const url = `${this.baseUrl}/internal/v1/projects/${encodeURIComponent(projectId)}/${path}`;
    let response: Response;
    try {
      response = await this.fetchFn(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch {
      throw unavailable(what, 'push-core unreachable');
    }
    if (!response.ok) {
      await response.body?.cancel();
      if (response.status === 404 && notFoundIsNull) return null;
      if (response.status >= 500) throw unavailable(what, `push-core answered ${response.status}`);
      // auth validated the parameters: any other answer is a disagreement on the internal API, a bug.
      throw new Error(`push-core answered ${response.status} to GET ${url}`);
    }
    return response.json();
  }
}

function unavailable(what: string, why: string): DomainError {
  return new DomainError(ErrorCode.Unavailable, `${what} are unavailable now (${why}); retry`, { retryAfterSeconds: 1 });
}
