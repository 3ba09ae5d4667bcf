import { decodeMessageCursor, encodeMessageCursor, MessageCancelRequestedV1, RegistrationUnregisterRequestedV1, TransportInboxV1 } from './events';

describe('event contracts added for issue 16', () => {
  it('round-trips the cancel and unregister requests and the inbox cancel record through JSON', () => {
    const cancel = { requestId: 'r1', projectId: 'p1', messageId: 'm1', atMs: 5 };
    expect(MessageCancelRequestedV1.parse(JSON.parse(JSON.stringify(cancel)))).toEqual(cancel);
    const unregister = { requestId: 'r2', projectId: 'p1', registrationId: 'reg_1', atMs: 6 };
    expect(RegistrationUnregisterRequestedV1.parse(JSON.parse(JSON.stringify(unregister)))).toEqual(unregister);
    const record = { kind: 'cancel', deviceId: 'd1', messageIds: ['m1', 'm2'], atMs: 7 };
    expect(TransportInboxV1.parse(JSON.parse(JSON.stringify(record)))).toEqual(record);
    expect(TransportInboxV1.safeParse({ ...record, messageIds: [] }).success).toBe(false);
    expect(TransportInboxV1.safeParse({ ...record, messageIds: Array.from({ length: 1001 }, (_, i) => `m${i}`) }).success).toBe(false);
  });

  it('round-trips a listing cursor and refuses anything it did not make', () => {
    const position = { acceptedAtMs: 1_767_225_600_123, messageId: '0193a4c2-5b7e-7c3d-9f1a-2b4c6d8e0f12' };
    const cursor = encodeMessageCursor(position);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeMessageCursor(cursor)).toEqual(position);
    for (const bad of ['', 'abc', `${cursor}=`, `${cursor}A`, Buffer.from('12.m 1').toString('base64url'), Buffer.from('-1.m1').toString('base64url'), 'x'.repeat(300)]) {
      expect(decodeMessageCursor(bad)).toBeNull();
    }
  });
});
