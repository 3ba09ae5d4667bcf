import { DomainError, encodeMessageCursor, ErrorCode, MessageListV1, type MessageListParams } from '@borealis/contracts';

export type { MessageListParams } from '@borealis/contracts';

/** Lists a project's messages, newest first, from push-core, which owns them. */
export abstract class MessageListReader {
  abstract list(projectId: string, params: MessageListParams): Promise<MessageListV1>;
}

const TIMEOUT_MS = 10_000;

/** Distributed mode: push-core's internal HTTP API. */
export class HttpMessageListReader extends MessageListReader {
  private readonly baseUrl: string;

  constructor(
    pushCoreUrl: string,
    private readonly fetchFn: typeof fetch = fetch,
  ) {
    super();
    this.baseUrl = pushCoreUrl.replace(/\/+$/, '');
  }

  async list(projectId: string, params: MessageListParams): Promise<MessageListV1> {
    const query = new URLSearchParams({ limit: String(params.limit) });
    if (params.state !== undefined) query.set('state', params.state);
    if (params.sinceMs !== undefined) query.set('sinceMs', String(params.sinceMs));
    if (params.after) query.set('cursor', encodeMessageCursor(params.after));
    const url = `${this.baseUrl}/internal/v1/projects/${encodeURIComponent(projectId)}/messages?${query}`;
    let response: Response;
    try {
      response = await this.fetchFn(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch {
      throw unavailable('push-core unreachable');
    }
    if (!response.ok) {
      await response.body?.cancel();
      if (response.status >= 500) throw unavailable(`push-core answered ${response.status}`);
      // The gateway validated the parameters: any other answer is a disagreement on the internal API, a bug.
      throw new Error(`push-core answered ${response.status} to GET ${url}`);
    }
    return MessageListV1.parse(await response.json());
  }
}

function unavailable(why: string): DomainError {
  return new DomainError(ErrorCode.Unavailable, `message listings are unavailable now (${why}); retry`, { retryAfterSeconds: 1 });
}
