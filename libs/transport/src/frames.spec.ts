import { DeviceErrorCode, ErrorCode, decodeFrame, encodeFrame, encodeFramePrefixed, type DeliveryV1, type RegistrationReplyV1 } from '@borealis/contracts';
import { FrameSplitter } from '@borealis/contracts';
import { deviceErrorCodeFor, encodeNotification, encodeNotificationBatch, notificationFrame, notificationRetained, prefixedFrames, replyFrame, requestTimeoutFrame, sharedNotification } from './frames';

const ok: RegistrationReplyV1 = {
  kind: 'registration.reply',
  correlationId: 'c',
  deviceId: 'd',
  op: 'register',
  ok: true,
  applicationId: 'app-1',
  registrationId: 'reg-1',
  isNew: false,
  errorCode: null,
  errorMessage: null,
};

describe('request mapping', () => {
  it.each([
    [ErrorCode.NotFound, DeviceErrorCode.NOT_FOUND],
    [ErrorCode.InvalidArgument, DeviceErrorCode.INVALID_ARGUMENT],
    [ErrorCode.FailedPrecondition, DeviceErrorCode.INVALID_ARGUMENT],
    [ErrorCode.Unavailable, DeviceErrorCode.UNAVAILABLE],
    [ErrorCode.Internal, DeviceErrorCode.INTERNAL],
    [ErrorCode.Conflict, DeviceErrorCode.INTERNAL],
    ['something_new', DeviceErrorCode.INTERNAL],
    ['toString', DeviceErrorCode.INTERNAL],
    [null, DeviceErrorCode.INTERNAL],
  ])('error code %s → device %s', (code, expected) => {
    expect(deviceErrorCodeFor(code)).toBe(expected);
  });

  it('a successful register answers RegisterResult with the registration', () => {
    expect(replyFrame(12, 'register', ok)).toEqual({ registerResult: { requestId: 12, applicationId: 'app-1', registrationId: 'reg-1', isNew: false } });
  });

  it.each(['unregister', 'subscribe', 'unsubscribe'] as const)('a successful %s answers RequestResult', (op) => {
    expect(replyFrame(3, op, { ...ok, op })).toEqual({ requestResult: { requestId: 3 } });
  });

  it('a failure answers Error with the request id, mapped code and the message', () => {
    expect(replyFrame(4, 'subscribe', { ...ok, ok: false, errorCode: 'failed_precondition', errorMessage: 'application is inactive' })).toEqual({
      error: { code: DeviceErrorCode.INVALID_ARGUMENT, message: 'application is inactive', requestId: 4 },
    });
    expect(replyFrame(4, 'register', { ...ok, ok: false, errorCode: 'internal', errorMessage: null })).toEqual({
      error: { code: DeviceErrorCode.INTERNAL, message: 'internal', requestId: 4 },
    });
  });

  it('a timeout answers UNAVAILABLE for the request', () => {
    expect(requestTimeoutFrame(8)).toEqual({ error: { code: DeviceErrorCode.UNAVAILABLE, message: expect.any(String), requestId: 8 } });
  });
});

describe('encodeNotification', () => {
  const delivery = (overrides: Partial<DeliveryV1> = {}): DeliveryV1 => ({
    kind: 'deliver',
    messageId: '01936f5e-7c1a-7b3e-9a4f-000000000001',
    deviceId: 'd',
    applicationId: 'ru.example.app',
    registrationId: 'r'.repeat(48),
    title: 'Привет ✓',
    message: 'x'.repeat(300),
    data: '{"k":[1,2]}',
    sentAtMs: 1_767_225_600_123,
    expiresAtMs: 1_767_229_200_456,
    ...overrides,
  });

  it.each([
    ['a typical delivery', delivery()],
    ['no data', delivery({ data: null })],
    ['a long message (multi-byte lengths)', delivery({ message: 'ё'.repeat(2048), title: 'т'.repeat(512) })],
    ['empty strings and zero times', delivery({ title: '', message: '', sentAtMs: 0 })],
  ])('writes exactly what the generated encoder writes: %s', (_, d) => {
    expect(encodeNotification(d, true).equals(encodeFramePrefixed(notificationFrame(d)))).toBe(true);
    expect(encodeNotification(d, false).equals(Buffer.from(encodeFrame(notificationFrame(d))))).toBe(true);
    expect(decodeFrame(encodeNotification(d, false)).notification?.message).toBe(d.message);
  });

  it('reuses the encoded message for the next recipient and notices any other change (length, non-ASCII, framing)', () => {
    const first = delivery({ registrationId: 'reg-a' });
    const cases = [
      first,
      delivery({ registrationId: 'reg-b' }),
      delivery({ registrationId: 'reg-ё' }),
      delivery({ registrationId: 'reg-c' }),
      delivery({ registrationId: 'regё-' }),
      delivery({ registrationId: 'reg-long' }),
      delivery({ registrationId: '' }),
      delivery({ registrationId: 'reg-b', title: 'other' }),
      delivery({ registrationId: 'reg-b', expiresAtMs: 1 }),
    ];
    for (const d of cases) expect(encodeNotification(d, true).equals(encodeFramePrefixed(notificationFrame(d)))).toBe(true);
    for (const d of cases) expect(encodeNotification(d, false).equals(Buffer.from(encodeFrame(notificationFrame(d))))).toBe(true);
  });

  it('sharedNotification writes each recipient into one buffer, and a retained buffer keeps its bytes', () => {
    const expected = (d: DeliveryV1) => encodeFramePrefixed(notificationFrame(d));
    const a = delivery({ registrationId: 'reg-a' });
    const b = delivery({ registrationId: 'reg-b' });
    const first = sharedNotification(a);
    expect(first.equals(expected(a))).toBe(true);
    const second = sharedNotification(b);
    expect(second).toBe(first);
    expect(second.equals(expected(b))).toBe(true);
    notificationRetained(second);
    const third = sharedNotification(a);
    expect(third).not.toBe(second);
    expect(third.equals(expected(a))).toBe(true);
    expect(second.equals(expected(b))).toBe(true);
    const nonAscii = delivery({ registrationId: 'reg-ё' });
    expect(sharedNotification(nonAscii).equals(expected(nonAscii))).toBe(true);
    expect(sharedNotification(b).equals(expected(b))).toBe(true);
  });

  it('encodeNotificationBatch writes what the generated encoder writes for a Notifications frame, in order', () => {
    const ds = [delivery({ messageId: 'm-1' }), delivery({ messageId: 'm-2', data: null, message: 'ё'.repeat(2048) }), delivery({ messageId: 'm-3', registrationId: 'reg-ё' })];
    const frames = ds.map((d) => encodeNotification(d, false));
    const expected = { notifications: { notifications: ds.map((d) => notificationFrame(d).notification!) } };
    expect(encodeNotificationBatch(frames, false).equals(Buffer.from(encodeFrame(expected)))).toBe(true);
    expect(encodeNotificationBatch(frames, true).equals(encodeFramePrefixed(expected))).toBe(true);
    const decoded = decodeFrame(encodeNotificationBatch(frames, false));
    expect(decoded.kind).toBe('notifications');
    expect(decoded.notifications!.notifications!.map((n) => n.messageId)).toEqual(['m-1', 'm-2', 'm-3']);
    // The frames handed in are left as they were (they may be written again elsewhere).
    expect(frames.every((f) => f[0] === 0x42)).toBe(true);
    expect(() => encodeNotificationBatch([Buffer.from(encodeFrame({ ping: { nonce: 1 } }))], false)).toThrow('not an encoded Notification frame');
  });

  it('prefixedFrames is the frames each with its length prefix, as the splitter reads them back', () => {
    const frames = [encodeNotification(delivery({ messageId: 'm-1' }), false), encodeNotification(delivery({ messageId: 'm-2', message: 'y'.repeat(200) }), false)];
    const bytes = prefixedFrames(frames);
    expect(bytes.equals(Buffer.concat(frames.map((f) => encodeFramePrefixed(decodeFrame(f)))))).toBe(true);
    expect(new FrameSplitter().push(bytes).map((b) => decodeFrame(b).notification?.messageId)).toEqual(['m-1', 'm-2']);
  });
});
