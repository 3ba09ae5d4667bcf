import type { DeliveryReceiptV1 } from '@borealis/contracts';

export interface ReceiptMove {
  status: DeliveryReceiptV1['status'];
  deviceId: string;
  messageId: string;
  instanceId: string;
}

/**
 * Splits a batch of receipts into rounds that can each be applied with one set-based statement per
 * status: round k holds the k-th receipt of every (device, message) pair, so a pair's receipts
 * keep their order (sent, then delivered) while thousands of devices' receipts share a statement.
 *
 * A pair's receipts before its `delivered` in the same batch are left out: `delivered` is final and
 * may follow any open state, so they could not change the outcome, and under load the `sent` and
 * `delivered` of one message often arrive together (each was a statement and a row version).
 */
export function receiptRounds(batch: readonly DeliveryReceiptV1[]): ReceiptMove[][] {
  const moves = batch.flatMap((r) => r.messageIds.map((messageId) => ({ status: r.status, deviceId: r.deviceId, messageId, instanceId: r.instanceId })));
  const pairOf = (m: ReceiptMove) => `${m.deviceId}\n${m.messageId}`;
  const lastDelivered = new Map<string, number>();
  moves.forEach((m, i) => m.status === 'delivered' && lastDelivered.set(pairOf(m), i));
  const rounds: ReceiptMove[][] = [];
  const seen = new Map<string, number>();
  moves.forEach((move, i) => {
    const pair = pairOf(move);
    if (i < (lastDelivered.get(pair) ?? -1)) return;
    const round = seen.get(pair) ?? 0;
    seen.set(pair, round + 1);
    (rounds[round] ??= []).push(move);
  });
  return rounds;
}
