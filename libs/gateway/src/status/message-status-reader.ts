import { DomainError, ErrorCode, MessageStatusV1 } from '@borealis/contracts';

/** Reads a message's delivery status from push-core, which owns it. */
export abstract class MessageStatusReader {
  /** The status, or null when push-core knows no such message in this project. */
  abstract getStatus(projectId: string, messageId: string): Promise<MessageStatusV1 | null>;
}

const TIMEOUT_MS = 5000;

/** Distributed mode: push-core's internal HTTP API. */
export class HttpMessageStatusReader extends MessageStatusReader {
  private readonly baseUrl: string;

  constructor(
    pushCoreUrl: string,
    private readonly fetchFn: typeof fetch = fetch,
  ) {
    super();
    this.baseUrl = pushCoreUrl.replace(/\/+$/, '');
  }

  async getStatus(projectId: string, messageId: string): Promise<MessageStatusV1 | null> {
    const url = `${this.baseUrl}/internal/v1/projects/${encodeURIComponent(projectId)}/messages/${encodeURIComponent(messageId)}`;
    let response: Response;
    try {
      response = await this.fetchFn(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch {
      throw new DomainError(ErrorCode.Unavailable, 'message statuses are unavailable now (push-core unreachable); retry', { retryAfterSeconds: 1 });
    }
    if (!response.ok) {
      await response.body?.cancel();
      if (response.status === 404) return null;
      if (response.status >= 500) {
        throw new DomainError(ErrorCode.Unavailable, `message statuses are unavailable now (push-core answered ${response.status}); retry`, { retryAfterSeconds: 1 });
      }
      // Any other answer means the two services disagree on the internal API: a bug, not input.
      throw new Error(`push-core answered ${response.status} to GET ${url}`);
    }
    return MessageStatusV1.parse(await response.json());
  }
}
