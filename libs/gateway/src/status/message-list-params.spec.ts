import { encodeMessageCursor } from '@borealis/contracts';
import { parseMessageListParams } from './message-list-params';

const fieldsOf = (query: Record<string, unknown>): Record<string, string> => {
  try {
    parseMessageListParams(query);
  } catch (err) {
    return (err as { details: { fields: Record<string, string> } }).details.fields;
  }
  throw new Error('accepted');
};

describe('message listing parameters', () => {
  it('defaults to 20 of every state, from the newest', () => {
    expect(parseMessageListParams({})).toEqual({ state: undefined, sinceMs: undefined, limit: 20, after: null });
  });

  it('reads state, since, limit and a cursor it made', () => {
    const cursor = encodeMessageCursor({ acceptedAtMs: 1_767_225_600_000, messageId: '0193a4c2-5b7e-7c3d-9f1a-2b4c6d8e0f12' });
    expect(parseMessageListParams({ state: 'cancelled', since: '2026-01-01T01:00:00+01:00', limit: '100', cursor })).toEqual({
      state: 'cancelled',
      sinceMs: Date.UTC(2026, 0, 1),
      limit: 100,
      after: { acceptedAtMs: 1_767_225_600_000, messageId: '0193a4c2-5b7e-7c3d-9f1a-2b4c6d8e0f12' },
    });
  });

  it('names every bad parameter at once', () => {
    expect(fieldsOf({ state: 'lost', since: 'yesterday', limit: '0', cursor: 'bm9wZQ', page: '2' })).toEqual({
      state: expect.stringContaining('cancelled'),
      since: expect.any(String),
      limit: 'must be an integer from 1 to 100',
      cursor: 'is not a cursor this API returned',
      page: 'is not a parameter of this listing',
    });
  });

  it.each([['101'], ['-1'], ['1.5'], ['1e2'], [''], [' 5'], ['99999']])('refuses limit %j', (limit) => {
    expect(Object.keys(fieldsOf({ limit }))).toEqual(['limit']);
  });

  it.each([['accepted'], ['STORED'], ['']])('refuses state %j', (state) => {
    expect(Object.keys(fieldsOf({ state }))).toEqual(['state']);
  });

  it('refuses a parameter given twice, a date without a zone, and a tampered cursor', () => {
    const cursor = encodeMessageCursor({ acceptedAtMs: 5, messageId: 'm-1' });
    expect(fieldsOf({ state: ['stored', 'sent'], since: '2026-01-01T00:00:00', cursor: `${cursor}A` })).toEqual({
      state: 'must be given once',
      since: expect.any(String),
      cursor: 'is not a cursor this API returned',
    });
  });
});
