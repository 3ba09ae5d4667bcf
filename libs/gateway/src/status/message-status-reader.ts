import { MessageStatusV1 } from '@borealis/contracts';
import { PushCoreInternalApi } from '@borealis/platform';

/** Reads a message's delivery status from push-core, which owns it. */
export abstract class MessageStatusReader {
  /** The status, or null when push-core knows no such message in this project. */
  abstract getStatus(projectId: string, messageId: string): Promise<MessageStatusV1 | null>;
}

/** Distributed mode: push-core's internal HTTP API. */
export class HttpMessageStatusReader extends MessageStatusReader {
  private readonly api: PushCoreInternalApi;

  constructor(pushCoreUrl: string, fetchFn: typeof fetch = fetch) {
    super();
    this.api = new PushCoreInternalApi(pushCoreUrl, fetchFn, 5000);
  }

  async getStatus(projectId: string, messageId: string): Promise<MessageStatusV1 | null> {
    const body = await this.api.request(projectId, `messages/${encodeURIComponent(messageId)}`, { what: 'message statuses', notFoundIsNull: true });
    return body === undefined ? null : MessageStatusV1.parse(body);
  }
}
