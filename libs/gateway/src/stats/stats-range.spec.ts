import { ErrorCode } from '@borealis/contracts';
import { parseStatsRange } from './stats-range';

const now = Date.UTC(2026, 2, 15, 13, 0);

describe('parseStatsRange', () => {
  it('defaults to the last 30 days, today included', () => {
    expect(parseStatsRange(undefined, undefined, now)).toEqual({ from: '2026-02-14', to: '2026-03-15' });
    expect(parseStatsRange('2026-03-01', undefined, now)).toEqual({ from: '2026-03-01', to: '2026-03-15' });
  });

  it.each([
    ['2026-3-1', undefined, 'from'],
    ['2026-02-30', undefined, 'from'],
    [undefined, ['2026-03-01', '2026-03-02'], 'to'],
    ['2026-03-10', '2026-03-01', 'from'],
    ['2024-01-01', '2026-01-01', 'from'],
  ])('refuses from=%p to=%p naming %s', (from, to, field) => {
    expect(() => parseStatsRange(from, to, now)).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument, details: { fields: { [field]: expect.any(String) } } }));
  });
});
