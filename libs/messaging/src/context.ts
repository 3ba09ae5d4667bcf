import { AsyncLocalStorage } from 'node:async_hooks';

/** The Kafka header (and HTTP header) that carries the id of the request that caused a record. */
export const REQUEST_ID_HEADER = 'x-request-id';

export interface RequestContext {
  requestId: string;
}

const storage = new AsyncLocalStorage<RequestContext>();
let implicit = true;

/**
 * The id of the HTTP request (or consumed record) being handled, carried across async calls. The
 * platform sets it per HTTP request; the message bus writes it into the headers of every record
 * published inside that request and restores it around the handler that consumes the record, so
 * one id follows a push from the gateway through Kafka to push-core and the transport.
 *
 * Carrying it implicitly has a price on Node 20: once an AsyncLocalStorage has been entered, the
 * process runs a promise hook for every promise it creates (about a tenth of the gateway's CPU per
 * request). A process whose hot path passes the id explicitly (the gateway alone: its send route
 * gives the request id to the publisher and to its log lines) turns implicit carrying off with
 * `Correlation.setImplicit(false)` before it handles anything; then `run` only calls `fn`,
 * `requestId()` is undefined and `headers` adds nothing.
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
  /** The headers to publish with: the caller's own, plus the current request id if they lack one. */
  headers(headers: Record<string, string> | undefined): Record<string, string> {
    const requestId = implicit ? storage.getStore()?.requestId : undefined;
    if (!requestId || headers?.[REQUEST_ID_HEADER]) return headers ?? {};
    return { ...headers, [REQUEST_ID_HEADER]: requestId };
  },
  /** The request id a batch was published under, when all its records share one. */
  ofBatch(messages: readonly { headers: Record<string, string> }[]): string | undefined {
    const ids = new Set(messages.map((m) => m.headers[REQUEST_ID_HEADER]));
    if (ids.size !== 1) return undefined;
    return [...ids][0];
  },
};
