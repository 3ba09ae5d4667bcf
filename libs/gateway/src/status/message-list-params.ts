import { decodeMessageCursor, DomainError, ErrorCode, LIST_DEFAULT_LIMIT, MessageListQuery } from '@borealis/contracts';
import { problemsOf } from '../http/schema-problems';
import type { MessageListParams } from './message-list-reader';

/**
 * The query of `GET .../messages` by its schema (`MessageListQuery`, libs/contracts; the OpenAPI
 * document's parameters are generated from it): `state` (an aggregate state), `since` (RFC 3339),
 * `limit` (1 to 100, default 20) and `cursor` (from a previous page). Each bad one is named in
 * `errors`; a parameter given twice is refused too (Fastify hands it over as an array).
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
