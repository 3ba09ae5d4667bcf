import { Inject, Injectable, Logger } from '@nestjs/common';
import { DomainError, ErrorCode } from '@borealis/contracts';
import { Clock } from '@borealis/util';
import type { Actor } from '../access/access';
import { AUTH_OPTIONS, type AuthModuleOptions } from '../auth-options';
import { SigningKeys } from '../signing/signing-keys';
import { mintConsoleSendToken } from './console-send-token';

/** The gateway's answer to a test send, handed on to the console as it is. */
export interface ForwardedAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** Headers of the gateway's answer that mean something to the caller. */
const FORWARDED_HEADERS = ['content-type', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'ratelimit-policy', 'idempotent-replayed'];
const TIMEOUT_MS = 15_000;

/**
 * The console's test send: the push API's own send route at the gateway (`GATEWAY_URL`; standalone,
 * this process over loopback), so that it goes through exactly what an app server's send goes
 * through: the gateway's validation (the same 400 problem details), the project's activity and
 * quota, the Idempotency-Key, and a 200 only once the message is durable. auth authorizes the
 * caller (developer role in the project) and mints a 60-second console send token for this one
 * request (console-send-token.ts).
 */
@Injectable()
export class ConsoleTestSend {
  private readonly logger = new Logger(ConsoleTestSend.name);
  private readonly sendUrl: ((projectId: string) => string) | undefined;

  constructor(
    private readonly signingKeys: SigningKeys,
    private readonly clock: Clock,
    @Inject(AUTH_OPTIONS) private readonly options: Pick<AuthModuleOptions, 'issuer' | 'audiences' | 'console'>,
  ) {
    const base = options.console?.gatewayUrl?.replace(/\/+$/, '');
    this.sendUrl = base === undefined ? undefined : (projectId) => `${base}/push/public/api/v1/projects/${encodeURIComponent(projectId)}/messages`;
  }

  async send(actor: Actor, projectId: string, body: unknown, idempotencyKey: string | undefined, requestId: string): Promise<ForwardedAnswer> {
    if (!this.sendUrl) throw new DomainError(ErrorCode.Unavailable, 'the test send is not configured on this server (GATEWAY_URL is not set on auth)');
    const token = await mintConsoleSendToken(this.signingKeys, this.clock, { issuer: this.options.issuer, audience: this.options.audiences[0]!, projectId, actor });
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json', 'x-request-id': requestId };
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    let response: Response;
    try {
      response = await fetch(this.sendUrl(projectId), { method: 'POST', headers, body: JSON.stringify(body ?? null), signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch (err) {
      this.logger.warn({ msg: 'test send: gateway unreachable', requestId, projectId, error: String(err) });
      throw new DomainError(ErrorCode.Unavailable, 'the gateway is unreachable now; retry', { retryAfterSeconds: 1 });
    }
    const text = await response.text();
    if (response.status === 401) {
      // The gateway refused a token auth just minted: the two disagree on the issuer, audience or keys.
      this.logger.error({ msg: 'test send: the gateway refused the console send token', requestId, projectId, answer: text.slice(0, 500) });
      throw new DomainError(ErrorCode.Unavailable, 'the gateway refused the console send token; the operator must check GATEWAY_URL and the issuer', { retryAfterSeconds: 5 });
    }
    const forwarded: Record<string, string> = {};
    for (const name of FORWARDED_HEADERS) {
      const value = response.headers.get(name);
      if (value !== null) forwarded[name] = value;
    }
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // Not JSON: handed on as text (the content type says so).
    }
    return { status: response.status, headers: forwarded, body: parsed };
  }
}
