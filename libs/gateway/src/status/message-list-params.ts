import { decodeMessageCursor, DomainError, ErrorCode, ListableMessageState } from '@borealis/contracts';
import type { MessageListParams } from './message-list-reader';

export const LIST_DEFAULT_LIMIT = 20;
export const LIST_MAX_LIMIT = 100;

/** RFC 3339 with a zone (`Z` or an offset); fractions of a second allowed. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * The query of `GET .../messages`: `state` (an aggregate state), `since` (RFC 3339), `limit`
 * (1 to 100, default 20) and `cursor` (from a previous page). Each bad one is named in `errors`;
 * a parameter given twice is refused too (Fastify hands it over as an array).
 */
export function parseMessageListParams(query: Record<string, unknown>): MessageListParams {
  const fields: Record<string, string> = {};
  const text = (name: string): string | undefined => {
    const value = query[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') {
      fields[name] = 'must be given once';
      return undefined;
    }
    return value;
  };

  let state: MessageListParams['state'];
  const stateText = text('state');
  if (stateText !== undefined) {
    const parsed = ListableMessageState.safeParse(stateText);
    if (parsed.success) state = parsed.data;
    else fields['state'] = `must be one of ${ListableMessageState.options.join(', ')}`;
  }

  let sinceMs: number | undefined;
  const sinceText = text('since');
  if (sinceText !== undefined) {
    const ms = RFC3339.test(sinceText) ? Date.parse(sinceText) : NaN;
    if (Number.isFinite(ms) && ms >= 0) sinceMs = ms;
    else fields['since'] = 'must be an RFC 3339 time such as 2026-03-01T00:00:00Z';
  }

  let limit = LIST_DEFAULT_LIMIT;
  const limitText = text('limit');
  if (limitText !== undefined) {
    const n = /^\d{1,4}$/.test(limitText) ? Number(limitText) : NaN;
    if (n >= 1 && n <= LIST_MAX_LIMIT) limit = n;
    else fields['limit'] = `must be an integer from 1 to ${LIST_MAX_LIMIT}`;
  }

  let after: MessageListParams['after'] = null;
  const cursorText = text('cursor');
  if (cursorText !== undefined) {
    after = decodeMessageCursor(cursorText);
    if (!after) fields['cursor'] = 'is not a cursor this API returned';
  }

  const unknown = Object.keys(query).filter((k) => !['state', 'since', 'limit', 'cursor'].includes(k));
  for (const name of unknown) fields[name] = 'is not a parameter of this listing';

  if (Object.keys(fields).length > 0) {
    throw new DomainError(ErrorCode.InvalidArgument, `invalid listing: ${Object.entries(fields).map(([f, r]) => `${f} ${r}`).join('; ')}`, { fields });
  }
  return { state, sinceMs, limit, after };
}
