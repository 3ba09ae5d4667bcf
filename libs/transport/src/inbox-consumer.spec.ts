import { receiptRecords } from './sent-receipts';

describe('receiptRecords', () => {
  it('groups outcomes by device and status, without duplicate ids', () => {
    const records = receiptRecords('transport-1', 99, [
      { status: 'sent', deviceId: 'a', messageId: 'm1' },
      { status: 'sent', deviceId: 'b', messageId: 'm2' },
      { status: 'sent', deviceId: 'a', messageId: 'm3' },
      { status: 'not_held', deviceId: 'a', messageId: 'm4' },
      { status: 'sent', deviceId: 'a', messageId: 'm1' },
    ]);
    expect(records.map((r) => r.value)).toEqual([
      { status: 'sent', deviceId: 'a', instanceId: 'transport-1', messageIds: ['m1', 'm3'], atMs: 99 },
      { status: 'sent', deviceId: 'b', instanceId: 'transport-1', messageIds: ['m2'], atMs: 99 },
      { status: 'not_held', deviceId: 'a', instanceId: 'transport-1', messageIds: ['m4'], atMs: 99 },
    ]);
  });

  it('splits receipts at 1000 ids', () => {
    const outcomes = Array.from({ length: 2001 }, (_, i) => ({ status: 'sent' as const, deviceId: 'a', messageId: `m${i}` }));
    expect(receiptRecords('t', 1, outcomes).map((r) => r.value.messageIds.length)).toEqual([1000, 1000, 1]);
  });

  it('publishes nothing for no outcomes', () => {
    expect(receiptRecords('t', 1, [])).toEqual([]);
  });
});
