import type { DeliveryReceiptV1 } from '@borealis/contracts';
import type { PublishCause, PublishRecord } from '@borealis/messaging';
import type { Clock } from '@borealis/util';

const MAX_RECEIPT_IDS = 1000;
/** Held at most; beyond, the oldest are published at once (memory stays bounded under any load). */
const MAX_HELD = 200_000;

export type ReceiptStatus = Extract<DeliveryReceiptV1['status'], 'sent' | 'not_held'>;

export interface DeliveryOutcome {
  status: ReceiptStatus;
  deviceId: string;
  messageId: string;
}

/** One receipt per device and status (at most 1000 ids each) instead of one per message. */
export function receiptRecords(instanceId: string, atMs: number, outcomes: readonly DeliveryOutcome[]): PublishRecord<DeliveryReceiptV1>[] {
  const groups = new Map<string, { status: ReceiptStatus; deviceId: string; ids: Set<string> }>();
  for (const { status, deviceId, messageId } of outcomes) {
    const key = `${status}\n${deviceId}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { status, deviceId, ids: new Set() }));
    group.ids.add(messageId);
  }
  const records: PublishRecord<DeliveryReceiptV1>[] = [];
  for (const { status, deviceId, ids } of groups.values()) {
    const all = [...ids];
    for (let i = 0; i < all.length; i += MAX_RECEIPT_IDS) {
      records.push({ value: { status, deviceId, instanceId, messageIds: all.slice(i, i + MAX_RECEIPT_IDS), atMs } });
    }
  }
  return records;
}

interface HeldBatch {
  atMs: number;
  outcomes: DeliveryOutcome[];
}

const pairOf = (deviceId: string, messageId: string): string => `${deviceId}\n${messageId}`;

/**
 * `sent` receipts wait `holdMs` for the device's Ack. A delivery acknowledged meanwhile is reported
 * `delivered` only (a delivery may go from pending to delivered directly), so on the usual path,
 * an online device whose Ack (the SDK sends one within 50 ms) arrives within the hold, each
 * delivery costs one receipt record instead of two: half the records for the transport to publish, for the broker to carry and for push-core
 * to read, and one row update instead of two when they would reach push-core in different batches.
 *
 * `sent` is informational: a delivery stays open (resent on reconnect) until it is `delivered`,
 * so a `sent` receipt that is lost (a failed publish, a crash while it is held) loses nothing; the
 * status API then shows the delivery `pending` until the Ack or the expiry. One timer, armed
 * only while something is held.
 */
export class SentReceipts {
  private readonly held = new Set<string>();
  private readonly batches: HeldBatch[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly instanceId: string,
    private readonly holdMs: number,
    private readonly clock: Clock,
    /**
     * Publishes receipts; reports its own failures (a lost `sent` receipt loses nothing, see above).
     * `causedBy` is the inbox batch being handled when the publish is its handler's (see `PublishOptions`).
     */
    private readonly publish: (records: PublishRecord<DeliveryReceiptV1>[], causedBy?: PublishCause) => Promise<void>,
    private readonly maxHeld = MAX_HELD,
  ) {}

  /**
   * Deliveries written to their devices at `atMs`: reported `sent` after `holdMs` unless
   * acknowledged before. The inbox's handler passes its batch as `causedBy`.
   */
  hold(atMs: number, written: readonly DeliveryOutcome[], causedBy?: PublishCause): Promise<void> {
    if (written.length === 0) return Promise.resolve();
    if (this.holdMs === 0) return this.publish(receiptRecords(this.instanceId, atMs, written), causedBy);
    const outcomes: DeliveryOutcome[] = [];
    for (const outcome of written) {
      const pair = pairOf(outcome.deviceId, outcome.messageId);
      if (this.held.has(pair)) continue;
      this.held.add(pair);
      outcomes.push(outcome);
    }
    if (outcomes.length > 0) this.batches.push({ atMs, outcomes });
    if (this.held.size > this.maxHeld) return this.publishDue(-Infinity, causedBy);
    this.arm();
    return Promise.resolve();
  }

  /** The device acknowledged these: their `sent` receipts, if still held, are not needed. */
  acknowledged(deviceId: string, messageIds: readonly string[]): void {
    if (this.held.size === 0) return;
    for (const messageId of messageIds) this.held.delete(pairOf(deviceId, messageId));
  }

  /** Deliveries whose `sent` receipt is still held. */
  get size(): number {
    return this.held.size;
  }

  /** Publishes everything held now (on shutdown, after the last Acks were read). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    return this.publishDue(Infinity);
  }

  private arm(): void {
    if (this.timer || this.batches.length === 0) return;
    const delay = Math.max(0, this.batches[0]!.atMs + this.holdMs - this.clock.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.publishDue(this.clock.now() - this.holdMs);
    }, delay);
    this.timer.unref();
  }

  /** Publishes the held batches written at or before `writtenBy`, less what was acknowledged meanwhile. */
  private publishDue(writtenBy: number, causedBy?: PublishCause): Promise<void> {
    const records: PublishRecord<DeliveryReceiptV1>[] = [];
    while (this.batches.length > 0 && (this.batches[0]!.atMs <= writtenBy || this.held.size > this.maxHeld)) {
      const batch = this.batches.shift()!;
      // What is no longer held was acknowledged meanwhile (a pair is held in one batch only).
      const due = batch.outcomes.filter((o) => this.held.delete(pairOf(o.deviceId, o.messageId)));
      // Not push(...): a batch may hold more devices than a call may have arguments.
      for (const record of receiptRecords(this.instanceId, batch.atMs, due)) records.push(record);
    }
    this.arm();
    return records.length > 0 ? this.publish(records, causedBy) : Promise.resolve();
  }
}
