/**
 * A hashed timing wheel: every connection sits in exactly one slot (the time it next needs
 * attention), and one interval timer fires only the slots that came due, so the cost of a tick is
 * the number of due connections, not the number of connections. Activity does not reschedule: a
 * connection checks its real deadlines when its slot fires and reschedules itself, so the hot path
 * (a frame arrives) touches no timer at all.
 *
 * Slots are numbered from the wheel's creation, not from the epoch: the numbers stay small
 * integers, which V8 keeps unboxed in the owners' fields.
 */
export class TimerWheel<T> {
  private readonly slots: T[][];
  /** The epoch slot number (time / slotMs) of slot 0. */
  private readonly originSlot: number;
  /** The slot processed last. */
  private lastSlot = 0;

  constructor(
    readonly slotMs: number,
    private readonly slotCount: number,
    nowMs: number,
  ) {
    if (!(slotMs > 0) || !Number.isInteger(slotCount) || slotCount < 2) throw new Error('a timer wheel needs slotMs > 0 and at least 2 slots');
    this.slots = Array.from({ length: slotCount }, () => []);
    this.originSlot = Math.floor(nowMs / slotMs);
  }

  /** The slot number of a time (counted from the wheel's creation). */
  slotOf(atMs: number): number {
    const slot = Math.floor(atMs / this.slotMs) - this.originSlot;
    // As a small integer (V8 keeps the difference of two large numbers as a heap number otherwise).
    return slot === (slot | 0) ? slot | 0 : slot;
  }

  /** The furthest ahead an item can be scheduled; later deadlines are clamped (the item re-checks when it fires). */
  get horizonMs(): number {
    return (this.slotCount - 1) * this.slotMs;
  }

  /**
   * Puts `item` in the slot of `atMs` (never one already processed, never beyond the horizon) and
   * returns that slot's number, which `advance` passes back so that the owner can tell a
   * current entry from a stale one.
   */
  schedule(item: T, atMs: number): number {
    let slot = this.slotOf(atMs);
    if (slot <= this.lastSlot) slot = this.lastSlot + 1;
    else if (slot > this.lastSlot + this.slotCount - 1) slot = this.lastSlot + this.slotCount - 1;
    this.slots[slot % this.slotCount]!.push(item);
    return slot;
  }

  /** Fires every item of every slot that came due by `nowMs`, in slot order. Returns how many fired. */
  advance(nowMs: number, fire: (item: T, slot: number) => void): number {
    const until = this.slotOf(nowMs);
    let fired = 0;
    // After a long stall every slot is due once: a full turn covers them all.
    const from = Math.max(this.lastSlot + 1, until - this.slotCount + 1);
    for (let slot = from; slot <= until; slot++) {
      this.lastSlot = slot;
      const index = slot % this.slotCount;
      const due = this.slots[index]!;
      if (due.length === 0) continue;
      this.slots[index] = [];
      for (const item of due) {
        fired++;
        fire(item, slot);
      }
    }
    this.lastSlot = Math.max(this.lastSlot, until);
    return fired;
  }

  /** Items waiting in the wheel (stale entries included). */
  get size(): number {
    let n = 0;
    for (const slot of this.slots) n += slot.length;
    return n;
  }
}
