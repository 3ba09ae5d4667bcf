/** Deliveries remembered as cancelled: enough for any inbox backlog a routing race can leave. */
const DEFAULT_CAPACITY = 10_000;

/**
 * The deliveries push-core said were cancelled, by device and message id, so that one still
 * waiting in this instance's inbox is dropped instead of written. Bounded: the oldest are
 * forgotten first (a race between a routing and a cancel lasts milliseconds, not thousands of
 * cancels).
 */
export class CancelledDeliveries {
  private readonly keys = new Set<string>();

  constructor(private readonly capacity = DEFAULT_CAPACITY) {}

  add(deviceId: string, messageIds: readonly string[]): void {
    for (const messageId of messageIds) {
      const key = `${deviceId}\n${messageId}`;
      this.keys.delete(key);
      this.keys.add(key);
    }
    for (const oldest of this.keys) {
      if (this.keys.size <= this.capacity) break;
      this.keys.delete(oldest);
    }
  }

  has(deviceId: string, messageId: string): boolean {
    return this.keys.size > 0 && this.keys.has(`${deviceId}\n${messageId}`);
  }
}
