import { daysBetween, isUtcDay, utcDay } from './stats';

describe('stats days', () => {
  it('validates calendar dates and lists the days of a range', () => {
    expect(isUtcDay('2026-02-28')).toBe(true);
    expect(isUtcDay('2026-02-29')).toBe(false);
    expect(isUtcDay('2026-2-1')).toBe(false);
    expect(daysBetween('2026-02-27', '2026-03-01')).toEqual(['2026-02-27', '2026-02-28', '2026-03-01']);
    expect(utcDay(Date.UTC(2026, 0, 1, 23, 59))).toBe('2026-01-01');
  });
});
