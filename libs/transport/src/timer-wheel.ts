/**
 * A hashed timing wheel: every connection sits in exactly one slot (the time it next needs
 * attention), and one interval timer fires only the slots that came due, so the cost of a tick is
 * the number of due connections, not the number of connections. Activity does not reschedule: a
 * connection checks its real deadlines when its slot fires and reschedules itself, so the hot path
 * (a frame arrives) touches no timer at all.
 */
export class TimerWheel<T> {
  private readonly slots: T[][];
  /** Absolute slot number (time / slotMs) processed last. */
  private lastSlot: number;

  constructor(
    readonly slotMs: number,
    private readonly slotCount: number,
    nowMs: number,
  ) {
    if (!(slotMs > 0) || !Number.isInteger(slotCount) || slotCount < 2) throw new Error('a timer wheel needs slotMs > 0 and at least 2 slots');
    this.slots = Array.from({ length: slotCount }, () => []);
    this.lastSlot = Math.floor(nowMs / slotMs);
  }

  /** The furthest ahead an item can be scheduled; later deadlines are clamped (the item re-checks when it fires). */
  get horizonMs(): number {
    return (this.slotCount - 1) * this.slotMs;
  }

  /**
   * Puts `item` in the slot of `atMs` (never one already processed, never beyond the horizon) and
   * returns that slot's absolute number, which `advance` passes back so that the owner can tell a
   * current entry from a stale one.
   */
  schedule(item: T, atMs: number): number {
    let slot = Math.floor(atMs / this.slotMs);
    if (slot <= this.lastSlot) slot = this.lastSlot + 1;
    else if (slot > this.lastSlot + this.slotCount - 1) slot = this.lastSlot + this.slotCount - 1;
    this.slots[slot % this.slotCount]!.push(item);
    return slot;
  }

  /** Fires every item of every slot that came due by `nowMs`, in slot order. Returns how many fired. */
  advance(nowMs: number, fire: (item: T, slot: number) => void): number {
    const until = Math.floor(nowMs / this.slotMs);
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
