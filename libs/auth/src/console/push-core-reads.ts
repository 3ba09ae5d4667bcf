import { MessageListV1, MessageStatusV1, ProjectStatsV1, RegistrationCountsV1, messageListQuery, type MessageListParams } from '@borealis/contracts';
import { PushCoreInternalApi } from '@borealis/platform';

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

/** Distributed mode: push-core's internal HTTP API. */
export class HttpPushCoreReads extends PushCoreReads {
  private readonly api: PushCoreInternalApi;

  constructor(pushCoreUrl: string, fetchFn: typeof fetch = fetch) {
    super();
    this.api = new PushCoreInternalApi(pushCoreUrl, fetchFn, 10_000);
  }

  async listMessages(projectId: string, params: MessageListParams): Promise<MessageListV1> {
    return MessageListV1.parse(await this.api.request(projectId, `messages?${messageListQuery(params)}`, { what: 'message listings' }));
  }

  async getStatus(projectId: string, messageId: string): Promise<MessageStatusV1 | null> {
    const body = await this.api.request(projectId, `messages/${encodeURIComponent(messageId)}`, { what: 'message statuses', notFoundIsNull: true });
    return body === undefined ? null : MessageStatusV1.parse(body);
  }

  async getStats(projectId: string, from: string, to: string): Promise<ProjectStatsV1> {
    return ProjectStatsV1.parse(await this.api.request(projectId, `stats?${new URLSearchParams({ from, to })}`, { what: 'statistics' }));
  }

  async registrationCounts(projectId: string): Promise<RegistrationCountsV1> {
    return RegistrationCountsV1.parse(await this.api.request(projectId, 'registration-counts', { what: 'registration counts' }));
  }
}
