import { TimerWheel } from './timer-wheel';

describe('TimerWheel', () => {
  it('fires items in the slot of their deadline, only once due', () => {
    const wheel = new TimerWheel<string>(100, 8, 0);
    wheel.schedule('a', 250);
    wheel.schedule('b', 420);
    const fired: string[] = [];
    expect(wheel.advance(199, (item) => fired.push(item))).toBe(0);
    wheel.advance(299, (item) => fired.push(item));
    expect(fired).toEqual(['a']);
    wheel.advance(500, (item) => fired.push(item));
    expect(fired).toEqual(['a', 'b']);
    expect(wheel.size).toBe(0);
  });

  it('never schedules into a processed slot, and clamps deadlines beyond the horizon', () => {
    const wheel = new TimerWheel<string>(100, 4, 1000);
    const past = wheel.schedule('past', 0);
    const far = wheel.schedule('far', 1_000_000);
    // Slots count from the wheel's creation (1000 ms: slot 0).
    expect(past).toBe(1);
    expect(far).toBe(3);
    expect(wheel.horizonMs).toBe(300);
    const fired: [string, number][] = [];
    wheel.advance(1399, (item, slot) => fired.push([item, slot]));
    expect(fired).toEqual([
      ['past', 1],
      ['far', 3],
    ]);
  });

  it('after a stall fires everything that came due, once', () => {
    const wheel = new TimerWheel<number>(10, 4, 0);
    for (let i = 0; i < 4; i++) wheel.schedule(i, 10 + i * 10);
    const fired: number[] = [];
    wheel.advance(10_000, (item) => fired.push(item));
    expect(fired.sort()).toEqual([0, 1, 2, 3]);
    expect(wheel.advance(20_000, () => fired.push(-1))).toBe(0);
  });
});
