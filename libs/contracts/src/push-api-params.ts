import type { z } from 'zod';
import { DomainError, ErrorCode } from './errors';
import { decodeMessageCursor, encodeMessageCursor, type ListableMessageState, type MessageListPosition } from './events';
import { LIST_DEFAULT_LIMIT, MessageListQuery, STATS_MAX_DAYS, StatsQuery } from './push-api';

/**
 * The query parameters of the push API's listings, parsed once by their schemas for every server
 * that answers them: the gateway (docs/api.md) and auth's console routes (docs/auth.md).
 */

/**
 * A schema's issues as a problem's `errors` member: field path → the first thing wrong with it
 * (`notification.title`, `registration_ids[3]`; `body` for the body itself), each unknown field
 * or parameter named on its own with `unknown`.
 */
export function problemsOf(error: z.ZodError, unknown = 'is not a known field'): Record<string, string> {
  const problems: Record<string, string> = {};
  for (const issue of error.issues) {
    const at = pathOf(issue.path);
    if (issue.code === 'unrecognized_keys') for (const key of issue.keys) problems[at ? `${at}.${key}` : key] ??= unknown;
    else problems[at || 'body'] ??= issue.message;
  }
  return problems;
}

function pathOf(path: readonly PropertyKey[]): string {
  let at = '';
  for (const key of path) at += typeof key === 'number' ? `[${key}]` : at ? `.${String(key)}` : String(key);
  return at;
}

/** A page request of a project's messages, newest first. */
export interface MessageListParams {
  state?: ListableMessageState | undefined;
  sinceMs?: number | undefined;
  limit: number;
  after?: MessageListPosition | null | undefined;
}

/**
 * The query of `GET .../messages` by its schema (`MessageListQuery`; the OpenAPI document's
 * parameters are generated from it): `state` (an aggregate state), `since` (RFC 3339), `limit` (1
 * to 100, default 20) and `cursor` (from a previous page). Each bad one is named in `errors`; a
 * parameter given twice is refused too (Fastify hands it over as an array).
 */
export function parseMessageListParams(query: Record<string, unknown>): MessageListParams {
  const parsed = MessageListQuery.safeParse(query);
  if (!parsed.success) {
    const fields = problemsOf(parsed.error, 'is not a parameter of this listing');
    throw new DomainError(ErrorCode.InvalidArgument, `invalid listing: ${Object.entries(fields).map(([f, r]) => `${f} ${r}`).join('; ')}`, { fields });
  }
  const { state, since, limit, cursor } = parsed.data;
  return {
    state,
    sinceMs: since === undefined ? undefined : Date.parse(since),
    limit: limit === undefined ? LIST_DEFAULT_LIMIT : Number(limit),
    after: cursor === undefined ? null : decodeMessageCursor(cursor),
  };
}

/** A page request as the query of push-core's internal listing (`limit`, `state`, `sinceMs`, `cursor`), for the services that ask it. */
export function messageListQuery(params: MessageListParams): URLSearchParams {
  const query = new URLSearchParams({ limit: String(params.limit) });
  if (params.state !== undefined) query.set('state', params.state);
  if (params.sinceMs !== undefined) query.set('sinceMs', String(params.sinceMs));
  if (params.after) query.set('cursor', encodeMessageCursor(params.after));
  return query;
}

/** Days covered when `from` is absent: the last 30, today included. */
export const STATS_DEFAULT_DAYS = 30;

const DAY_MS = 86_400_000;

/**
 * The `from` and `to` query parameters of `GET .../stats` by their schema (`StatsQuery`): UTC days
 * `YYYY-MM-DD`, both inclusive (an empty one is absent). `to` defaults to today, `from` to 29 days
 * before `to`; the range is at most 366 days, `from` not after `to`.
 */
export function parseStatsRange(from: unknown, to: unknown, nowMs: number): { from: string; to: string } {
  const parsed = StatsQuery.safeParse({ from: from === '' ? undefined : from, to: to === '' ? undefined : to });
  const fields = parsed.success ? {} : problemsOf(parsed.error);
  if (parsed.success) {
    const toMs = parsed.data.to !== undefined ? Date.parse(`${parsed.data.to}T00:00:00Z`) : Math.floor(nowMs / DAY_MS) * DAY_MS;
    const fromMs = parsed.data.from !== undefined ? Date.parse(`${parsed.data.from}T00:00:00Z`) : toMs - (STATS_DEFAULT_DAYS - 1) * DAY_MS;
    if (fromMs > toMs) fields['from'] = 'must not be after to';
    else if ((toMs - fromMs) / DAY_MS + 1 > STATS_MAX_DAYS) fields['from'] = `the range may cover at most ${STATS_MAX_DAYS} days`;
    else return { from: day(fromMs), to: day(toMs) };
  }
  throw new DomainError(ErrorCode.InvalidArgument, `invalid range: ${Object.entries(fields).map(([f, r]) => `${f} ${r}`).join('; ')}`, { fields });
}

function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
