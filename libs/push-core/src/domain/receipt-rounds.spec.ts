import { receiptRounds } from './receipt-rounds';

describe('receiptRounds', () => {
  it('keeps each (device, message) pair in order across rounds and shares rounds between devices', () => {
    const rounds = receiptRounds([
      { status: 'sent', deviceId: 'd1', instanceId: 't-1', messageIds: ['m1', 'm2'], atMs: 0 },
      { status: 'sent', deviceId: 'd2', instanceId: 't-1', messageIds: ['m1'], atMs: 0 },
      { status: 'delivered', deviceId: 'd1', instanceId: 't-1', messageIds: ['m1'], atMs: 0 },
    ]);
    expect(rounds.map((r) => r.map((m) => `${m.status}:${m.deviceId}:${m.messageId}`))).toEqual([
      ['sent:d1:m1', 'sent:d1:m2', 'sent:d2:m1'],
      ['delivered:d1:m1'],
    ]);
  });
});
