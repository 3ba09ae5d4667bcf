/** A notification waiting in a connection's write queue: its message id, expiry and encoded Notification frame (no length prefix). */
export interface QueuedNotification {
  messageId: string;
  expiresAtMs: number;
  frame: Buffer;
}

/**
 * The notifications of one connection that wait to be written: `high` ones ahead of `normal` ones,
 * first in first out within a priority. A connection has one only while its socket is
 * backpressured (the device reads slower than pushes arrive) or while it holds normal pushes to
 * coalesce; the usual connection writes each push at once and has none.
 */
export class WriteQueue {
  private high: QueuedNotification[] = [];
  private normal: QueuedNotification[] = [];
  /** Encoded bytes waiting (frames without their length prefix). */
  bytes = 0;
  /** Normal pushes are held to be coalesced until this time (epoch ms); 0 when not held. */
  holdNormalUntilMs = 0;
  /** A retry of the connection's pump is scheduled (the socket was backpressured). */
  retryScheduled = false;

  get size(): number {
    return this.high.length + this.normal.length;
  }

  get isEmpty(): boolean {
    return this.high.length === 0 && this.normal.length === 0;
  }

  add(notification: QueuedNotification, high: boolean): void {
    (high ? this.high : this.normal).push(notification);
    this.bytes += notification.frame.length;
  }

  /**
   * The next notifications to write together: high ones first, then normal ones if `normalsToo`;
   * at least one if any may go, and more while their frames add up to at most `maxBytes`.
   */
  take(maxBytes: number, normalsToo: boolean): QueuedNotification[] {
    const taken: QueuedNotification[] = [];
    let bytes = 0;
    bytes = this.takeFrom(this.high, taken, bytes, maxBytes);
    if (normalsToo && (taken.length === 0 || bytes < maxBytes)) this.takeFrom(this.normal, taken, bytes, maxBytes);
    return taken;
  }

  /** Takes these messages out (cancelled); returns how many it held. */
  remove(messageIds: readonly string[]): number {
    const ids = new Set(messageIds);
    const before = this.size;
    const keep = (list: QueuedNotification[]) =>
      list.filter((n) => {
        if (!ids.has(n.messageId)) return true;
        this.bytes -= n.frame.length;
        return false;
      });
    this.high = keep(this.high);
    this.normal = keep(this.normal);
    return before - this.size;
  }

  /** Empties the queue; returns how many notifications it held. */
  clear(): number {
    const size = this.size;
    this.high = [];
    this.normal = [];
    this.bytes = 0;
    return size;
  }

  private takeFrom(list: QueuedNotification[], taken: QueuedNotification[], bytes: number, maxBytes: number): number {
    const start = bytes;
    let n = 0;
    while (n < list.length) {
      const length = list[n]!.frame.length;
      if (taken.length > 0 && bytes + length > maxBytes) break;
      taken.push(list[n]!);
      bytes += length;
      n++;
    }
    if (n > 0) {
      list.splice(0, n);
      this.bytes -= bytes - start;
    }
    return bytes;
  }
}

/**
 * Runs items after a fixed delay: one timer for all of them (each item is due `delayMs` after it
 * was added, so the earliest is always first). Used to pump connection write queues, however many
 * connections wait.
 */
export class FixedDelayTimer<T> {
  private items: (T | undefined)[] = [];
  private due: number[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly delayMs: number,
    private readonly now: () => number,
    private readonly run: (item: T) => void,
  ) {}

  get pending(): number {
    return this.items.length - this.head;
  }

  add(item: T): void {
    this.items.push(item);
    this.due.push(this.now() + this.delayMs);
    this.arm();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.items = [];
    this.due = [];
    this.head = 0;
  }

  private arm(): void {
    if (this.timer !== null || this.head === this.items.length) return;
    this.timer = setTimeout(() => this.fire(), Math.max(0, this.due[this.head]! - this.now()));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = null;
    const now = this.now();
    // Items added by `run` are due later (delayMs ≥ 1): the loop ends.
    while (this.head < this.items.length && this.due[this.head]! <= now) {
      const item = this.items[this.head]!;
      this.items[this.head] = undefined;
      this.head++;
      this.run(item);
    }
    if (this.head === this.items.length) {
      this.items = [];
      this.due = [];
      this.head = 0;
    } else if (this.head > 1024 && 2 * this.head > this.items.length) {
      this.items = this.items.slice(this.head);
      this.due = this.due.slice(this.head);
      this.head = 0;
    }
    this.arm();
  }
}
