import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import {
  MessageListV1,
  MessageStatusV1,
  MulticastResponse,
  ProjectInfoV1,
  ProjectStatsV1,
  RegistrationInfoV1,
  RegistrationTopicsV1,
  SendMessageResponse,
  SubscriptionResponse,
  type MessageListQuery,
  type MulticastRequest,
  type PushNotification,
  type SendMessageRequest,
  type SendTargetType,
} from '@borealis/contracts';
import { randomToken, SystemClock, type Clock } from '@borealis/util';
import { z } from 'zod';
import type { ProjectSettings } from './project-settings';
import { PushApiError } from './push-api-error';

export interface PushServerClientOptions {
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
  clock?: Clock;
  /** Per HTTP request; default 30 s. */
  timeoutMs?: number;
}

export interface SendMessageInput {
  /** A registrationId for type `device`. */
  target: string;
  type?: SendTargetType;
  /** Aurora duration, e.g. `5h30m`; the server's default when absent. */
  ttl?: string;
  /** Each optional, at least one given: data alone is a silent push. */
  notification: PushNotification;
  priority?: SendMessageRequest['priority'];
  collapseKey?: string;
  /** Sent as the Idempotency-Key header: a retry with the same key and body sends once. */
  idempotencyKey?: string;
  /** A scheduled send: no device gets it before this time (less than the TTL ahead). */
  sendAt?: Date;
}

export interface MulticastInput {
  /** 1 to 1,000 registration ids of this project. */
  registrationIds: string[];
  ttl?: string;
  notification: PushNotification;
  priority?: MulticastRequest['priority'];
  collapseKey?: string;
  /** A scheduled send: no device gets it before this time (less than the TTL ahead). */
  sendAt?: Date;
  /** Sent as the Idempotency-Key header: a retry with the same key and body gets the first answer and sends nothing. */
  idempotencyKey?: string;
}

/** The Aurora project description (`ProjectInfoV1`, the schema the server's OpenAPI document is generated from). */
export const ProjectInfo = ProjectInfoV1;
export type ProjectInfo = ProjectInfoV1;

const TokenResponse = z.looseObject({ access_token: z.string().min(1), expires_in: z.number().positive() });

const ASSERTION_LIFETIME_SECONDS = 60;
/** Tokens are renewed this long before they expire, so none expires in flight. */
const REFRESH_MARGIN_MS = 60_000;
const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/**
 * An application server's client for the Aurora-compatible push API: obtains access tokens with a
 * signed client assertion (RFC 7523) and caches them, sends messages, reads the project and
 * message statuses. Every refusal is a PushApiError.
 */
export class PushServerClient {
  private readonly fetchFn: typeof fetch;
  private readonly clock: Clock;
  private readonly timeoutMs: number;
  private readonly key: KeyObject;
  private token: { value: string; expiresAtMs: number } | null = null;
  private pendingToken: Promise<string> | null = null;

  constructor(
    private readonly settings: ProjectSettings,
    options: PushServerClientOptions = {},
  ) {
    this.fetchFn = options.fetch ?? fetch;
    this.clock = options.clock ?? new SystemClock();
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.key = createPrivateKey(settings.privateKey);
  }

  /** A cached access token, renewed 60 s before it expires; concurrent callers share one request. */
  async getAccessToken(): Promise<string> {
    if (this.token && this.clock.now() < this.token.expiresAtMs - REFRESH_MARGIN_MS) return this.token.value;
    this.pendingToken ??= this.requestToken().finally(() => {
      this.pendingToken = null;
    });
    return this.pendingToken;
  }

  async sendMessage(input: SendMessageInput): Promise<{ id: string }> {
    const body: SendMessageRequest = {
      target: input.target,
      type: input.type ?? 'device',
      ttl: input.ttl,
      notification: input.notification,
      priority: input.priority,
      collapse_key: input.collapseKey,
      send_at: input.sendAt?.toISOString(),
    };
    const headers = idempotencyHeader(input.idempotencyKey);
    const response = await this.call('POST', ['projects', this.settings.projectId, 'messages'], body, headers);
    return { id: parseResponse(SendMessageResponse, response).id };
  }

  /**
   * One notification to up to 1,000 of the project's registrations: one message id (null when no
   * id was accepted), and each id's outcome. Takes one unit of the project's quota per accepted id.
   */
  async sendMulticast(input: MulticastInput): Promise<MulticastResponse> {
    const body: MulticastRequest = {
      registration_ids: input.registrationIds,
      ttl: input.ttl,
      notification: input.notification,
      priority: input.priority,
      collapse_key: input.collapseKey,
      send_at: input.sendAt?.toISOString(),
    };
    const headers = idempotencyHeader(input.idempotencyKey);
    return parseResponse(MulticastResponse, await this.call('POST', ['projects', this.settings.projectId, 'messages', 'multicast'], body, headers));
  }

  /** (Un)subscribes one of the project's registrations to a topic; applied by the server shortly after. */
  async setTopicSubscription(registrationId: string, topic: string, subscribed: boolean): Promise<{ requestId: string }> {
    const response = await this.call(subscribed ? 'POST' : 'DELETE', ['projects', this.settings.projectId, 'registrations', registrationId, 'topics', topic]);
    return { requestId: parseResponse(SubscriptionResponse, response).requestId };
  }

  /** Per-day counters; days are UTC `YYYY-MM-DD`, both inclusive (the server's defaults when absent). */
  async getStats(range: { from?: string; to?: string } = {}): Promise<ProjectStatsV1> {
    const query = new URLSearchParams(Object.entries(range).filter((e): e is [string, string] => e[1] !== undefined)).toString();
    return parseResponse(ProjectStatsV1, await this.call('GET', ['projects', this.settings.projectId, 'stats'], undefined, {}, query));
  }

  async getProject(): Promise<ProjectInfo> {
    return parseResponse(ProjectInfo, await this.call('GET', ['projects', this.settings.projectId]));
  }

  async getMessageStatus(messageId: string): Promise<MessageStatusV1> {
    return parseResponse(MessageStatusV1, await this.call('GET', ['projects', this.settings.projectId, 'messages', messageId]));
  }

  /**
   * Cancels a message: its recipients not reached yet are never sent it; delivered ones are
   * unaffected. `applied` is false when the server made the cancel durable but push-core had not
   * applied it yet when it answered (HTTP 202); it will be. Idempotent.
   */
  async cancelMessage(messageId: string): Promise<{ applied: boolean; status: MessageStatusV1 }> {
    const response = await this.call('DELETE', ['projects', this.settings.projectId, 'messages', messageId]);
    return { applied: response.status === 200, status: parseResponse(MessageStatusV1, response) };
  }

  /**
   * A page of the project's messages, newest first. Pass the answer's `nextCursor` as `cursor` for
   * the next page; it is null after the last. With `state`, a page may be short (even empty)
   * while `nextCursor` is set. `since` is an RFC 3339 time; `limit` 1 to 100 (default 20).
   */
  async listMessages(options: { state?: MessageListQuery['state']; since?: string; limit?: number; cursor?: string } = {}): Promise<MessageListV1> {
    const query = new URLSearchParams();
    if (options.state !== undefined) query.set('state', options.state);
    if (options.since !== undefined) query.set('since', options.since);
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.cursor !== undefined) query.set('cursor', options.cursor);
    return parseResponse(MessageListV1, await this.call('GET', ['projects', this.settings.projectId, 'messages'], undefined, {}, query.toString()));
  }

  /** One of the project's registrations: application, created, last seen, online now, topics. */
  async getRegistration(registrationId: string): Promise<RegistrationInfoV1> {
    return parseResponse(RegistrationInfoV1, await this.call('GET', ['projects', this.settings.projectId, 'registrations', registrationId]));
  }

  /** Every topic the registration is subscribed to, by name. */
  async getRegistrationTopics(registrationId: string): Promise<RegistrationTopicsV1> {
    return parseResponse(RegistrationTopicsV1, await this.call('GET', ['projects', this.settings.projectId, 'registrations', registrationId, 'topics']));
  }

  /**
   * Unregisters one of the project's registrations: no further deliveries; its device learns at
   * its next registrate(). `applied` false (HTTP 202): durable, not applied yet. Idempotent.
   */
  async deleteRegistration(registrationId: string): Promise<{ applied: boolean; registration: RegistrationInfoV1 }> {
    const response = await this.call('DELETE', ['projects', this.settings.projectId, 'registrations', registrationId]);
    return { applied: response.status === 200, registration: parseResponse(RegistrationInfoV1, response) };
  }

  /** The RS256 client assertion (RFC 7523) that authenticates this app server to the token endpoint. */
  clientAssertion(): string {
    const iat = Math.floor(this.clock.now() / 1000);
    const header = { alg: 'RS256', kid: this.settings.keyId, typ: 'JWT' };
    const claims = {
      iss: this.settings.clientId,
      sub: this.settings.clientId,
      aud: this.settings.tokenUrl,
      iat,
      exp: iat + ASSERTION_LIFETIME_SECONDS,
      jti: randomToken(16),
    };
    const input = `${base64url(header)}.${base64url(claims)}`;
    return `${input}.${sign('sha256', Buffer.from(input), this.key).toString('base64url')}`;
  }

  private async requestToken(): Promise<string> {
    const requestedAtMs = this.clock.now();
    const response = await this.fetchOk(this.settings.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({
        grant_type: 'client_credentials',
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: this.clientAssertion(),
        scope: this.settings.scopes,
        audience: this.settings.audience,
      }),
    });
    const token = parseResponse(TokenResponse, response);
    this.token = { value: token.access_token, expiresAtMs: requestedAtMs + token.expires_in * 1000 };
    return token.access_token;
  }

  /** An API call; a 401 (token revoked, keys rotated) is retried once with a fresh token. */
  private async call(method: 'GET' | 'POST' | 'DELETE', path: string[], body?: unknown, headers: Record<string, string> = {}, query = ''): Promise<{ status: number; json: unknown }> {
    const url = joinUrl(this.settings.apiUrl, path) + (query ? `?${query}` : '');
    for (let attempt = 0; ; attempt++) {
      const token = await this.getAccessToken();
      try {
        return await this.fetchOk(url, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            ...headers,
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (err) {
        if (!(err instanceof PushApiError && err.status === 401 && attempt === 0)) throw err;
        this.token = null;
      }
    }
  }

  private async fetchOk(url: string, init: RequestInit): Promise<{ status: number; json: unknown }> {
    let response: Response;
    try {
      response = await this.fetchFn(url, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new PushApiError(0, 'unavailable', 'no answer', `${init.method ?? 'GET'} ${url}: ${(err as Error).message}`, null, { cause: err });
    }
    if (!response.ok) throw await PushApiError.fromResponse(response);
    const text = await response.text();
    try {
      return { status: response.status, json: JSON.parse(text) };
    } catch {
      throw new PushApiError(response.status, 'invalid_response', 'invalid response', `${url} answered with non-JSON: ${text.slice(0, 200)}`);
    }
  }
}

/** Joins a base URL and path segments (each percent-encoded) with exactly one slash between them. */
export function joinUrl(base: string, segments: readonly string[]): string {
  // URL parsing resolves these (even percent-encoded), which would address another resource.
  const bad = segments.find((s) => s === '' || s === '.' || s === '..');
  if (bad !== undefined) throw new RangeError(`"${bad}" is not a valid id`);
  return [base.replace(/\/+$/, ''), ...segments.map(encodeURIComponent)].join('/');
}

function parseResponse<T>(schema: z.ZodType<T>, response: { status: number; json: unknown }): T {
  const result = schema.safeParse(response.json);
  if (result.success) return result.data;
  throw new PushApiError(response.status, 'invalid_response', 'invalid response', z.prettifyError(result.error));
}

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** The Idempotency-Key header, when the caller gave a key. */
function idempotencyHeader(key: string | undefined): Record<string, string> {
  return key === undefined ? {} : { 'idempotency-key': key };
}
