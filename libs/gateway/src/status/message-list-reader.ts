import { MessageListV1, messageListQuery, type MessageListParams } from '@borealis/contracts';
import { PushCoreInternalApi } from '@borealis/platform';

export type { MessageListParams } from '@borealis/contracts';

/** Lists a project's messages, newest first, from push-core, which owns them. */
export abstract class MessageListReader {
  abstract list(projectId: string, params: MessageListParams): Promise<MessageListV1>;
}

/** Distributed mode: push-core's internal HTTP API. */
export class HttpMessageListReader extends MessageListReader {
  private readonly api: PushCoreInternalApi;

  constructor(pushCoreUrl: string, fetchFn: typeof fetch = fetch) {
    super();
    this.api = new PushCoreInternalApi(pushCoreUrl, fetchFn, 10_000);
  }

  // The gateway validated the parameters: push-core refusing them is a bug (PushCoreInternalApi throws).
  async list(projectId: string, params: MessageListParams): Promise<MessageListV1> {
    return MessageListV1.parse(await this.api.request(projectId, `messages?${messageListQuery(params)}`, { what: 'message listings' }));
  }
}
