import { BoundedConcurrency } from './password-hasher';

describe('BoundedConcurrency', () => {
  it('runs at most `limit` tasks at once, queues up to `queueLimit`, refuses the rest at once', async () => {
    const slots = new BoundedConcurrency(2, 3);
    const release: (() => void)[] = [];
    let running = 0;
    let most = 0;
    const task = () =>
      slots.run(async () => {
        most = Math.max(most, ++running);
        await new Promise<void>((resolve) => release.push(resolve));
        running--;
        return 'done';
      });
    const results = Array.from({ length: 7 }, task);
    // Two run, three wait, two are refused without running.
    expect(await results[5]).toBeNull();
    expect(await results[6]).toBeNull();
    expect(slots.inFlight).toBe(2);
    expect(slots.queued).toBe(3);
    while (release.length > 0 || slots.inFlight > 0) {
      release.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await Promise.all(results.slice(0, 5))).toEqual(['done', 'done', 'done', 'done', 'done']);
    expect(most).toBe(2);
    expect([slots.inFlight, slots.queued]).toEqual([0, 0]);
  });

  it('frees the slot when a task fails', async () => {
    const slots = new BoundedConcurrency(1, 0);
    await expect(slots.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await slots.run(async () => 'next')).toBe('next');
  });
});
