import { AsyncLocalStorage } from 'node:async_hooks';

/** The Kafka header (and HTTP header) that carries the id of the request that caused a record. */
export const REQUEST_ID_HEADER = 'x-request-id';

export interface RequestContext {
  requestId: string;
}

const storage = new AsyncLocalStorage<RequestContext>();
let implicit = true;

/**
 * The id of the HTTP request (or consumed record) being handled. The platform sets it per HTTP
 * request; the message bus writes it into the headers of every record published inside that
 * request and restores it around the handler that consumes the record, so one id follows a push
 * from the gateway through Kafka to push-core and the transport.
 *
 * Carrying it implicitly has a price on Node 20: once an AsyncLocalStorage has been entered, the
 * process runs a promise hook for every promise it creates (about a tenth of the gateway's CPU per
 * request, 4 % of standalone's per push). A process whose hot path passes the id explicitly turns
 * implicit carrying off with `Correlation.setImplicit(false)` before it handles anything (the
 * gateway alone, and standalone: the send routes give the request id to the publisher and to their
 * log lines, and a handler's publish names its batch in `PublishOptions.causedBy`, whose request id
 * its records inherit). Then `run` only calls `fn`, `requestId()` is undefined and `forPublish`
 * gives only what `causedBy` gives.
 */
export const Correlation = {
  setImplicit(enabled: boolean): void {
    implicit = enabled;
  },
  run<R>(requestId: string | undefined, fn: () => R): R {
    if (!implicit) return fn();
    return requestId ? storage.run({ requestId }, fn) : storage.exit(fn);
  },
  requestId(): string | undefined {
    return implicit ? storage.getStore()?.requestId : undefined;
  },
  /**
   * The request id to publish records with: the one the batch a handler publishes from shares
   * (`causedBy`), else the current one. Once per publish; `withRequestId` applies it per record.
   */
  forPublish(causedBy: readonly { headers: Record<string, string> }[] | undefined): string | undefined {
    return (causedBy ? Correlation.ofBatch(causedBy) : undefined) ?? (implicit ? storage.getStore()?.requestId : undefined);
  },
  /** A record's headers: its own, plus `requestId` if they lack one. */
  withRequestId(headers: Record<string, string> | undefined, requestId: string | undefined): Record<string, string> {
    if (!requestId || headers?.[REQUEST_ID_HEADER]) return headers ?? {};
    return { ...headers, [REQUEST_ID_HEADER]: requestId };
  },
  /** The request id a batch was published under, when all its records share one. */
  ofBatch(messages: readonly { headers: Record<string, string> }[]): string | undefined {
    const first = messages[0]?.headers[REQUEST_ID_HEADER];
    if (first === undefined) return undefined;
    for (let i = 1; i < messages.length; i++) if (messages[i]!.headers[REQUEST_ID_HEADER] !== first) return undefined;
    return first;
  },
};
