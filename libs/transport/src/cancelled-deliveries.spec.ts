import { CancelledDeliveries } from './cancelled-deliveries';

describe('CancelledDeliveries', () => {
  it('knows a cancelled delivery by device and message', () => {
    const cancelled = new CancelledDeliveries();
    cancelled.add('d1', ['m1', 'm2']);
    expect(cancelled.has('d1', 'm1')).toBe(true);
    expect(cancelled.has('d1', 'm2')).toBe(true);
    expect(cancelled.has('d2', 'm1')).toBe(false);
    expect(cancelled.has('d1', 'm3')).toBe(false);
  });

  it('forgets the oldest beyond its capacity', () => {
    const cancelled = new CancelledDeliveries(2);
    cancelled.add('d', ['m1', 'm2']);
    cancelled.add('d', ['m3']);
    expect([cancelled.has('d', 'm1'), cancelled.has('d', 'm2'), cancelled.has('d', 'm3')]).toEqual([false, true, true]);
  });
});
