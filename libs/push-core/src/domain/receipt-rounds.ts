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
 */
export function receiptRounds(batch: readonly DeliveryReceiptV1[]): ReceiptMove[][] {
  const rounds: ReceiptMove[][] = [];
  const seen = new Map<string, number>();
  for (const receipt of batch) {
    for (const messageId of receipt.messageIds) {
      const pair = `${receipt.deviceId}\n${messageId}`;
      const round = seen.get(pair) ?? 0;
      seen.set(pair, round + 1);
      (rounds[round] ??= []).push({ status: receipt.status, deviceId: receipt.deviceId, messageId, instanceId: receipt.instanceId });
    }
  }
  return rounds;
}
