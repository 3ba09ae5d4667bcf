import { receiptRounds } from './receipt-rounds';

describe('receiptRounds', () => {
  it('keeps each (device, message) pair in order across rounds and shares rounds between devices', () => {
    const rounds = receiptRounds([
      { status: 'sent', deviceId: 'd1', instanceId: 't-1', messageIds: ['m1', 'm2'], atMs: 0 },
      { status: 'sent', deviceId: 'd2', instanceId: 't-1', messageIds: ['m1'], atMs: 0 },
      { status: 'not_held', deviceId: 'd1', instanceId: 't-1', messageIds: ['m2'], atMs: 0 },
    ]);
    expect(rounds.map((r) => r.map((m) => `${m.status}:${m.deviceId}:${m.messageId}`))).toEqual([
      ['sent:d1:m1', 'sent:d1:m2', 'sent:d2:m1'],
      ['not_held:d1:m2'],
    ]);
  });

  it('leaves out what comes before a delivered receipt of the same pair: delivered is final', () => {
    const rounds = receiptRounds([
      { status: 'sent', deviceId: 'd1', instanceId: 't-1', messageIds: ['m1', 'm2'], atMs: 0 },
      { status: 'not_held', deviceId: 'd1', instanceId: 't-1', messageIds: ['m1'], atMs: 0 },
      { status: 'delivered', deviceId: 'd1', instanceId: 't-1', messageIds: ['m1'], atMs: 0 },
      { status: 'delivered', deviceId: 'd2', instanceId: 't-1', messageIds: ['m1'], atMs: 0 },
      { status: 'sent', deviceId: 'd2', instanceId: 't-2', messageIds: ['m1'], atMs: 0 },
    ]);
    expect(rounds.map((r) => r.map((m) => `${m.status}:${m.deviceId}:${m.messageId}`))).toEqual([
      // d1/m2 was only sent; d1/m1 is delivered in one statement; a late `sent` after d2's delivery
      // stays (the state machine refuses it, as it would in a later batch).
      ['sent:d1:m2', 'delivered:d1:m1', 'delivered:d2:m1'],
      ['sent:d2:m1'],
    ]);
  });
});
