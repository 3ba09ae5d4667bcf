import { createHash } from 'node:crypto';
import {
  DeviceErrorCode,
  DeviceProtocol,
  PROTOCOL_VERSION,
  decodeFrame,
  encodeFrame,
  type DeliveryV1,
  type Frame,
  type FrameInit,
  type RegistrationReplyV1,
} from '@borealis/contracts';
import { CredentialAuthority } from './credentials';
import { SourceShares } from './admission';
import { GroupDeliveries } from './group-deliveries';
import { ackKey, MAX_ACK_IDS, MAX_UNACKED, REPLACED_RECONNECT_DELAY_MS, DeviceSession, negotiateVersion, type SessionSettings, type SourceLimits, type Step } from './device-session';

const settings: SessionSettings = {
  instanceId: 'transport-0',
  heartbeatIntervalMs: 1000,
  idleTimeoutMs: 2500,
  helloTimeoutMs: 2000,
  requestTimeoutMs: 500,
  presenceRefreshMs: 1000,
  maxPendingRequests: 2,
  frameBudgets: {
    ack: { perSecond: 10, burst: 1000, intervalMs: 100, limitMs: 100_000 },
    ping: { perSecond: 2, burst: 3, intervalMs: 500, limitMs: 1500 },
    request: { perSecond: 10, burst: 4, intervalMs: 100, limitMs: 400 },
  },
};
const T0 = 1_700_000_000_000;
const DAY = 86_400_000;
const authority = new CredentialAuthority({ secret: 'k'.repeat(40), maxAgeMs: 30 * DAY });

/** Frames as the device would receive them: encoded and decoded, so the test sees wire values. */
function wire(frame: FrameInit): Frame {
  return decodeFrame(encodeFrame(frame));
}

function newSession(): DeviceSession {
  let n = 0;
  return new DeviceSession({ settings, epochMs: T0 - 5000, credentials: authority, newCorrelationId: () => `corr-${++n}` }, T0);
}

function openSession(credentials?: { deviceId: string; secret: string }): { session: DeviceSession; deviceId: string; step: Step } {
  const session = newSession();
  const step = session.onFrame(wire({ hello: { protocolVersion: PROTOCOL_VERSION, credentials: credentials ?? null } }), T0);
  return { session, deviceId: session.deviceId!, step };
}

function expectErrorAndClose(step: Step, code: DeviceErrorCode): void {
  expect(step.send).toHaveLength(1);
  expect(wire(step.send[0]!).error?.code).toBe(code);
  expect(step.effects).toEqual([{ type: 'close', reason: expect.any(String) }]);
}

function reply(overrides: Partial<RegistrationReplyV1> = {}): RegistrationReplyV1 {
  return {
    kind: 'registration.reply',
    correlationId: 'corr-1',
    deviceId: 'd',
    op: 'register',
    ok: true,
    applicationId: 'app-1',
    registrationId: 'reg-1',
    isNew: true,
    errorCode: null,
    errorMessage: null,
    ...overrides,
  };
}

function delivery(deviceId: string, overrides: Partial<DeliveryV1> = {}): DeliveryV1 {
  return {
    kind: 'deliver',
    messageId: 'm-1',
    deviceId,
    applicationId: 'app-1',
    registrationId: 'reg-1',
    title: 'Hi',
    message: 'There',
    data: null,
    sentAtMs: T0,
    expiresAtMs: T0 + 60_000,
    ...overrides,
  };
}

describe('DeviceSession: Hello', () => {
  it('issues credentials to a device that has none and welcomes it', () => {
    const { session, step } = openSession();
    const welcome = wire(step.send[0]!).welcome!;
    expect(welcome.protocolVersion).toBe(PROTOCOL_VERSION);
    expect(welcome.heartbeatIntervalMs).toBe(1000);
    expect(welcome.credentials?.deviceId).toBe(welcome.deviceId);
    expect(authority.verify(welcome.credentials!.deviceId!, welcome.credentials!.secret!, T0)).toBe('valid');
    expect(session.deviceId).toBe(welcome.deviceId);
    expect(session.isOpen).toBe(true);
    expect(step.effects).toEqual([{ type: 'authenticated', deviceId: welcome.deviceId }]);
  });

  it('welcomes a device with valid credentials under the same id and issues nothing new', () => {
    const issued = authority.issue(T0);
    const { step } = openSession(issued);
    const welcome = wire(step.send[0]!).welcome!;
    expect(welcome.deviceId).toBe(issued.deviceId);
    expect(welcome.credentials).toBeNull();
    expect(step.effects).toEqual([{ type: 'authenticated', deviceId: issued.deviceId }]);
  });

  it('refuses a forged secret with UNAUTHENTICATED and closes', () => {
    const issued = authority.issue(T0);
    const other = authority.issue(T0);
    const { session, step } = openSession({ deviceId: issued.deviceId, secret: other.secret });
    expectErrorAndClose(step, DeviceErrorCode.UNAUTHENTICATED);
    expect(session.isOpen).toBe(false);
    expect(session.acceptsInput).toBe(false);
  });

  it('renews credentials at half their lifetime: same device id, a fresh secret in Welcome', () => {
    const issued = authority.issue(T0 - 20 * DAY);
    const { step } = openSession(issued);
    const welcome = wire(step.send[0]!).welcome!;
    expect(welcome.deviceId).toBe(issued.deviceId);
    expect(welcome.credentials?.deviceId).toBe(issued.deviceId);
    expect(welcome.credentials?.secret).not.toBe(issued.secret);
    expect(authority.verify(issued.deviceId, welcome.credentials!.secret!, T0)).toBe('valid');
  });

  it('refuses expired credentials with UNAUTHENTICATED', () => {
    expectErrorAndClose(openSession(authority.issue(T0 - 31 * DAY)).step, DeviceErrorCode.UNAUTHENTICATED);
  });

  it('refuses credentials with empty fields', () => {
    expectErrorAndClose(openSession({ deviceId: '', secret: '' }).step, DeviceErrorCode.UNAUTHENTICATED);
  });

  it('refuses another protocol version with UNSUPPORTED_VERSION', () => {
    const session = newSession();
    expectErrorAndClose(session.onFrame(wire({ hello: { protocolVersion: PROTOCOL_VERSION + 1 } }), T0), DeviceErrorCode.UNSUPPORTED_VERSION);
    expectErrorAndClose(newSession().onFrame(wire({ hello: {} }), T0), DeviceErrorCode.UNSUPPORTED_VERSION);
  });

  it('negotiates the highest version both sides speak', () => {
    const session = newSession();
    const step = session.onFrame(wire({ hello: { protocolVersion: PROTOCOL_VERSION + 3, minProtocolVersion: PROTOCOL_VERSION } }), T0);
    expect(wire(step.send[0]!).welcome?.protocolVersion).toBe(PROTOCOL_VERSION);
    expect(negotiateVersion(0, 2, { min: 1, max: 3 })).toBe(2);
    expect(negotiateVersion(1, 5, { min: 1, max: 3 })).toBe(3);
    expect(negotiateVersion(4, 5, { min: 1, max: 3 })).toBeNull();
    expect(negotiateVersion(0, 0, { min: 1, max: 3 })).toBeNull();
    const narrow = new DeviceSession({ settings, epochMs: T0, credentials: authority, newCorrelationId: () => 'c', versions: { min: 2, max: 3 } }, T0);
    expectErrorAndClose(narrow.onFrame(wire({ hello: { protocolVersion: 1 } }), T0), DeviceErrorCode.UNSUPPORTED_VERSION);
  });

  it('takes Notifications frames only from a device that negotiated version 3', () => {
    const hello = (protocolVersion: number) => {
      const session = newSession();
      session.onFrame(wire({ hello: { protocolVersion } }), T0);
      return session.takesNotificationBatches;
    };
    expect([hello(1), hello(2), hello(3)]).toEqual([false, false, true]);
    expect(newSession().takesNotificationBatches).toBe(false);
  });

  it.each<[string, FrameInit]>([
    ['ping', { ping: { nonce: 1 } }],
    ['register', { register: { requestId: 1, applicationId: 'a' } }],
    ['ack', { ack: { messageIds: ['m'] } }],
  ])('refuses %s before Hello with PROTOCOL_VIOLATION', (_, frame) => {
    const session = newSession();
    expectErrorAndClose(session.onFrame(wire(frame), T0), DeviceErrorCode.PROTOCOL_VIOLATION);
    expect(session.deviceId).toBeNull();
  });

  it('refuses a second Hello', () => {
    const { session } = openSession();
    expectErrorAndClose(session.onFrame(wire({ hello: { protocolVersion: PROTOCOL_VERSION } }), T0), DeviceErrorCode.PROTOCOL_VIOLATION);
  });

  it('ignores every input once it decided to close', () => {
    const session = newSession();
    session.onFrame(wire({ ping: {} }), T0);
    expect(session.onFrame(wire({ hello: { protocolVersion: PROTOCOL_VERSION } }), T0)).toEqual({ send: [], effects: [] });
    expect(session.onTick(T0 + 60_000)).toEqual({ send: [], effects: [] });
    expect(session.onFrameError(DeviceErrorCode.MALFORMED_FRAME, 'x')).toEqual({ send: [], effects: [] });
  });

  it('closes a connection that sends no Hello in time', () => {
    const session = newSession();
    expect(session.onTick(T0 + settings.helloTimeoutMs - 1)).toEqual({ send: [], effects: [] });
    expectErrorAndClose(session.onTick(T0 + settings.helloTimeoutMs), DeviceErrorCode.PROTOCOL_VIOLATION);
  });
});

describe('DeviceSession: frames a device must not send', () => {
  it.each<[string, FrameInit]>([
    ['welcome', { welcome: { deviceId: 'x' } }],
    ['notification', { notification: { messageId: 'm' } }],
    ['notifications', { notifications: { notifications: [{ messageId: 'm' }] } }],
    ['registerResult', { registerResult: { requestId: 1 } }],
    ['requestResult', { requestResult: { requestId: 1 } }],
    ['goAway', { goAway: {} }],
    ['error', { error: { code: DeviceErrorCode.INTERNAL } }],
    ['pong', { pong: { nonce: 1 } }],
  ])('%s → PROTOCOL_VIOLATION and close', (_, frame) => {
    const { session } = openSession();
    expectErrorAndClose(session.onFrame(wire(frame), T0), DeviceErrorCode.PROTOCOL_VIOLATION);
  });

  it('a framing error answers its code and closes', () => {
    const { session } = openSession();
    expectErrorAndClose(session.onFrameError(DeviceErrorCode.FRAME_TOO_LARGE, 'too big'), DeviceErrorCode.FRAME_TOO_LARGE);
  });

  it('a frame of no known kind is answered UNKNOWN_FRAME', () => {
    const { session } = openSession();
    expectErrorAndClose(session.onFrame(new DeviceProtocol.Frame(), T0), DeviceErrorCode.UNKNOWN_FRAME);
  });

  it('rotates credentials on request: same device id, a fresh secret that verifies', () => {
    const { session, deviceId } = openSession();
    const step = session.onFrame(wire({ rotateCredentials: { requestId: 7 } }), T0 + DAY);
    const rotated = wire(step.send[0]!).credentialsRotated!;
    expect(rotated.requestId).toBe(7);
    expect(rotated.credentials?.deviceId).toBe(deviceId);
    expect(authority.verify(deviceId, rotated.credentials!.secret!, T0 + DAY)).toBe('valid');
    expect(step.effects).toEqual([]);
    expect(session.isOpen).toBe(true);
    expect(wire(session.onFrame(wire({ rotateCredentials: {} }), T0).send[0]!).error?.code).toBe(DeviceErrorCode.INVALID_ARGUMENT);
  });

  it('tells the timer wheel its next deadline: hello timeout, then the earliest of idle, presence and requests', () => {
    const session = newSession();
    expect(session.nextDeadline()).toBe(T0 + settings.helloTimeoutMs);
    session.onFrame(wire({ hello: { protocolVersion: PROTOCOL_VERSION } }), T0);
    expect(session.nextDeadline()).toBe(T0 + settings.presenceRefreshMs);
    session.onFrame(wire({ register: { requestId: 1, applicationId: 'a' } }), T0 + 100);
    expect(session.nextDeadline()).toBe(T0 + 100 + settings.requestTimeoutMs);
    session.onClosed();
    expect(session.nextDeadline()).toBe(Infinity);
  });

  it('counts the same deadlines whatever epoch its times are kept from (small integers near it, large numbers far from it)', () => {
    for (const epochMs of [T0, T0 - 1000, T0 + 1000, T0 - 40 * DAY, 0]) {
      const session = new DeviceSession({ settings, epochMs, credentials: authority, newCorrelationId: () => 'c' }, T0);
      expect(session.nextDeadline()).toBe(T0 + settings.helloTimeoutMs);
      session.onFrame(wire({ hello: { protocolVersion: PROTOCOL_VERSION } }), T0 + 7);
      expect(session.nextDeadline()).toBe(T0 + 7 + settings.presenceRefreshMs);
      expect(session.onTick(T0 + 7 + settings.presenceRefreshMs - 1).effects).toEqual([]);
      expect(session.onTick(T0 + 7 + settings.presenceRefreshMs).effects).toEqual([{ type: 'refreshPresence', deviceId: session.deviceId }]);
      session.onFrame(wire({ ping: { nonce: 1 } }), T0 + 1500);
      expect(session.nextDeadline()).toBe(T0 + 7 + 2 * settings.presenceRefreshMs);
      expect(session.onTick(T0 + 1500 + settings.idleTimeoutMs - 1).effects).not.toContainEqual(expect.objectContaining({ type: 'close' }));
      expect(session.onTick(T0 + 1500 + settings.idleTimeoutMs).effects).toEqual([{ type: 'close', reason: 'idle timeout' }]);
    }
  });
});

describe('DeviceSession: ping and liveness', () => {
  it('answers Ping with Pong and the same nonce', () => {
    const { session } = openSession();
    const step = session.onFrame(wire({ ping: { nonce: 4242 } }), T0 + 10);
    expect(step.effects).toEqual([]);
    expect(wire(step.send[0]!).pong?.nonce).toBe(4242);
  });

  it('closes after 2.5 heartbeats of silence, counted from the last frame', () => {
    const { session } = openSession();
    session.onFrame(wire({ ping: { nonce: 1 } }), T0 + 1000);
    expect(session.onTick(T0 + 1000 + settings.idleTimeoutMs - 1).effects).not.toContainEqual(expect.objectContaining({ type: 'close' }));
    const step = session.onTick(T0 + 1000 + settings.idleTimeoutMs);
    expect(step).toEqual({ send: [], effects: [{ type: 'close', reason: 'idle timeout' }] });
    expect(session.acceptsInput).toBe(false);
  });

  it('refreshes presence on the sweep once per refresh period', () => {
    const { session, deviceId } = openSession();
    expect(session.onTick(T0 + settings.presenceRefreshMs - 1)).toEqual({ send: [], effects: [] });
    session.onFrame(wire({ ping: {} }), T0 + 900);
    expect(session.onTick(T0 + settings.presenceRefreshMs).effects).toEqual([{ type: 'refreshPresence', deviceId }]);
    expect(session.onTick(T0 + settings.presenceRefreshMs + 10).effects).toEqual([]);
  });
});

describe('DeviceSession: registration requests', () => {
  it('register: publishes a request and answers RegisterResult when the reply arrives', () => {
    const { session, deviceId } = openSession();
    const step = session.onFrame(wire({ register: { requestId: 7, applicationId: 'app-1', registrationId: '' } }), T0 + 5);
    expect(step.send).toEqual([]);
    expect(step.effects).toEqual([
      {
        type: 'publishRegistration',
        request: { correlationId: 'corr-1', replyTo: 'transport-0', deviceId, op: 'register', applicationId: 'app-1', registrationId: '', deviceUser: '', topics: [], atMs: T0 + 5 },
      },
    ]);
    expect(session.pendingRequests).toBe(1);

    const answered = session.onReply(reply({ deviceId, registrationId: 'reg-9', isNew: true }));
    expect(wire(answered.send[0]!).registerResult).toMatchObject({ requestId: 7, applicationId: 'app-1', registrationId: 'reg-9', isNew: true });
    expect(session.pendingRequests).toBe(0);
    // A redelivered reply finds nothing waiting.
    expect(session.onReply(reply({ deviceId }))).toEqual({ send: [], effects: [] });
  });

  it('version 2 carries the device user of a registration; a version 1 device has none, whatever it sends', () => {
    const v2 = openSession().session;
    v2.onFrame(wire({ register: { requestId: 1, applicationId: 'app-1', deviceUser: '1001' } }), T0);
    const v1 = newSession();
    expect(wire(v1.onFrame(wire({ hello: { protocolVersion: 1 } }), T0).send[0]!).welcome?.protocolVersion).toBe(1);
    const step = v1.onFrame(wire({ register: { requestId: 1, applicationId: 'app-1', deviceUser: '1001' } }), T0);
    expect(step.effects).toEqual([{ type: 'publishRegistration', request: expect.objectContaining({ deviceUser: '' }) }]);
    const bad = v2.onFrame(wire({ register: { requestId: 2, applicationId: 'app-1', deviceUser: 'a/b' } }), T0);
    expect(wire(bad.send[0]!).error).toMatchObject({ code: DeviceErrorCode.INVALID_ARGUMENT, requestId: 2 });
  });

  it('a version 2 device gets version 2; the server still speaks version 1', () => {
    const step = newSession().onFrame(wire({ hello: { protocolVersion: 2, minProtocolVersion: 1 } }), T0);
    expect(wire(step.send[0]!).welcome?.protocolVersion).toBe(2);
    expect(wire(newSession().onFrame(wire({ hello: { protocolVersion: 1, minProtocolVersion: 1 } }), T0).send[0]!).welcome?.protocolVersion).toBe(1);
  });

  it.each([
    ['unregister', { unregister: { requestId: 3, applicationId: 'app-1', registrationId: 'reg-1' } }, { applicationId: 'app-1', registrationId: 'reg-1', topics: [] }],
    ['subscribe', { subscribe: { requestId: 3, registrationId: 'reg-1', topics: ['news', 'sport'] } }, { applicationId: '', registrationId: 'reg-1', topics: ['news', 'sport'] }],
    ['unsubscribe', { unsubscribe: { requestId: 3, registrationId: 'reg-1', topics: ['news'] } }, { applicationId: '', registrationId: 'reg-1', topics: ['news'] }],
  ] as const)('%s: publishes the request and answers RequestResult', (op, frame, fields) => {
    const { session } = openSession();
    const step = session.onFrame(wire(frame as FrameInit), T0);
    expect(step.effects).toEqual([{ type: 'publishRegistration', request: expect.objectContaining({ op, ...fields }) }]);
    const answered = session.onReply(reply({ op, correlationId: 'corr-1' }));
    expect(wire(answered.send[0]!).requestResult?.requestId).toBe(3);
  });

  it('answers a failed reply with an Error for that request and stays open', () => {
    const { session } = openSession();
    session.onFrame(wire({ register: { requestId: 5, applicationId: 'nope' } }), T0);
    const step = session.onReply(reply({ ok: false, errorCode: 'not_found', errorMessage: 'no such application' }));
    expect(wire(step.send[0]!).error).toMatchObject({ code: DeviceErrorCode.NOT_FOUND, message: 'no such application', requestId: 5 });
    expect(step.effects).toEqual([]);
    expect(session.isOpen).toBe(true);
  });

  it('answers UNAVAILABLE when push-core does not reply in time', () => {
    const { session } = openSession();
    session.onFrame(wire({ register: { requestId: 9, applicationId: 'app-1' } }), T0);
    expect(session.onTick(T0 + settings.requestTimeoutMs - 1).send).toEqual([]);
    const step = session.onTick(T0 + settings.requestTimeoutMs);
    expect(wire(step.send[0]!).error).toMatchObject({ code: DeviceErrorCode.UNAVAILABLE, requestId: 9 });
    expect(session.isOpen).toBe(true);
    expect(session.onReply(reply())).toEqual({ send: [], effects: [] });
  });

  it('answers UNAVAILABLE at once when the request could not be published', () => {
    const { session } = openSession();
    session.onFrame(wire({ register: { requestId: 2, applicationId: 'app-1' } }), T0);
    expect(wire(session.onRequestFailed('corr-1').send[0]!).error).toMatchObject({ code: DeviceErrorCode.UNAVAILABLE, requestId: 2 });
    expect(session.onRequestFailed('corr-1')).toEqual({ send: [], effects: [] });
  });

  it('bounds the requests in progress per connection', () => {
    const { session } = openSession();
    session.onFrame(wire({ register: { requestId: 1, applicationId: 'a' } }), T0);
    session.onFrame(wire({ register: { requestId: 2, applicationId: 'b' } }), T0);
    const step = session.onFrame(wire({ register: { requestId: 3, applicationId: 'c' } }), T0);
    expect(step.effects).toEqual([]);
    expect(wire(step.send[0]!).error).toMatchObject({ code: DeviceErrorCode.UNAVAILABLE, requestId: 3 });
    expect(session.isOpen).toBe(true);
  });

  it.each<[string, FrameInit]>([
    ['request id 0', { register: { requestId: 0, applicationId: 'a' } }],
    ['register without application', { register: { requestId: 1 } }],
    ['subscribe without topics', { subscribe: { requestId: 1, registrationId: 'r' } }],
    ['subscribe without registration', { subscribe: { requestId: 1, topics: ['t'] } }],
    ['an over-long application id', { register: { requestId: 1, applicationId: 'a'.repeat(129) } }],
    ['an empty topic', { subscribe: { requestId: 1, registrationId: 'r', topics: [''] } }],
  ])('refuses %s with INVALID_ARGUMENT and stays open', (_, frame) => {
    const { session } = openSession();
    const step = session.onFrame(wire(frame), T0);
    expect(step.effects).toEqual([]);
    expect(wire(step.send[0]!).error?.code).toBe(DeviceErrorCode.INVALID_ARGUMENT);
    expect(session.isOpen).toBe(true);
  });

  it('refuses a request id that is still in progress', () => {
    const { session } = openSession();
    session.onFrame(wire({ register: { requestId: 4, applicationId: 'a' } }), T0);
    const step = session.onFrame(wire({ register: { requestId: 4, applicationId: 'b' } }), T0);
    expect(wire(step.send[0]!).error).toMatchObject({ code: DeviceErrorCode.INVALID_ARGUMENT, requestId: 4 });
    expect(session.pendingRequests).toBe(1);
  });
});

describe('DeviceSession: delivery and acks', () => {
  it('takes deliveries for its own device while open only', () => {
    const pending = newSession();
    expect(pending.deliver(delivery('x'))).toBe(false);
    const { session, deviceId } = openSession();
    expect(session.deliver(delivery(deviceId))).toBe(true);
    expect(session.deliver(delivery('someone-else'))).toBe(false);
    session.goAway(0, 'bye');
    expect(session.deliver(delivery(deviceId))).toBe(false);
  });

  it('turns an Ack into one delivered receipt with distinct ids', () => {
    const { session, deviceId } = openSession();
    session.deliver({ ...delivery(deviceId), messageId: 'm-1' });
    session.deliver({ ...delivery(deviceId), messageId: 'm-2' });
    const step = session.onFrame(wire({ ack: { messageIds: ['m-1', 'm-2', 'm-1'] } }), T0 + 3);
    expect(step.send).toEqual([]);
    expect(step.effects).toEqual([
      { type: 'publishReceipt', receipt: { status: 'delivered', deviceId, instanceId: 'transport-0', messageIds: ['m-1', 'm-2'], atMs: T0 + 3 } },
    ]);
  });

  it('ignores an empty Ack and refuses one with too many ids', () => {
    const { session } = openSession();
    expect(session.onFrame(wire({ ack: { messageIds: [] } }), T0)).toEqual({ send: [], effects: [] });
    const ids = Array.from({ length: MAX_ACK_IDS + 1 }, (_, i) => `m-${i}`);
    // A second later: the empty Ack's share of the budget is back.
    const step = session.onFrame(wire({ ack: { messageIds: ids } }), T0 + 1000);
    expect(step.effects).toEqual([]);
    expect(wire(step.send[0]!).error?.code).toBe(DeviceErrorCode.INVALID_ARGUMENT);
    expect(session.isOpen).toBe(true);
  });
});

describe('DeviceSession: hostile devices (issue 15, finding 4)', () => {
  const receiptIds = (step: Step) => step.effects.flatMap((e) => (e.type === 'publishReceipt' ? [e.receipt.messageIds] : []));

  it('counts an Ack only for notifications written on this connection and not yet acknowledged', () => {
    const { session, deviceId } = openSession();
    expect(session.onFrame(wire({ ack: { messageIds: ['never-written'] } }), T0)).toEqual({ send: [], effects: [] });
    session.deliver({ ...delivery(deviceId), messageId: 'm-1' });
    session.deliver({ ...delivery(deviceId), messageId: 'm-2' });
    expect(receiptIds(session.onFrame(wire({ ack: { messageIds: ['forged-1', 'm-2', 'forged-2', 'm-2'] } }), T0 + 100))).toEqual([['m-2']]);
    // Acknowledged once: the same id again is no new work.
    expect(session.onFrame(wire({ ack: { messageIds: ['m-2'] } }), T0 + 200)).toEqual({ send: [], effects: [] });
    expect(receiptIds(session.onFrame(wire({ ack: { messageIds: ['m-1'] } }), T0 + 300))).toEqual([['m-1']]);
    // Another connection of the same device did not write m-1.
    const other = openSession({ deviceId, secret: authority.issue(T0, deviceId).secret });
    other.session.deliver({ ...delivery(deviceId), messageId: 'm-3' });
    expect(other.session.onFrame(wire({ ack: { messageIds: ['m-1'] } }), T0)).toEqual({ send: [], effects: [] });
  });

  it('counts Acks the same whether one notification is outstanding or several', () => {
    const { session, deviceId } = openSession();
    const write = (messageId: string) => session.deliver({ ...delivery(deviceId), messageId });
    write('a');
    expect(session.onFrame(wire({ ack: { messageIds: ['x'] } }), T0)).toEqual({ send: [], effects: [] });
    expect(receiptIds(session.onFrame(wire({ ack: { messageIds: ['x', 'a', 'a'] } }), T0))).toEqual([['a']]);
    expect(session.onFrame(wire({ ack: { messageIds: ['a'] } }), T0)).toEqual({ send: [], effects: [] });
    write('b');
    write('b');
    write('c');
    expect(receiptIds(session.onFrame(wire({ ack: { messageIds: ['b'] } }), T0))).toEqual([['b']]);
    write('d');
    expect(receiptIds(session.onFrame(wire({ ack: { messageIds: ['d', 'c', 'b'] } }), T0))).toEqual([['d', 'c']]);
    write('e');
    expect(receiptIds(session.onFrame(wire({ ack: { messageIds: ['e'] } }), T0))).toEqual([['e']]);
  });

  it('counts Acks the same with one outstanding and a few or many (kept in a Set)', () => {
    for (const outstanding of [3, 16, 17, 40]) {
      const { session, deviceId } = openSession();
      const ids = Array.from({ length: outstanding }, (_, i) => `m-${i}`);
      for (const id of ids) session.deliver({ ...delivery(deviceId), messageId: id });
      // A repeated write is one outstanding id, not two.
      session.deliver({ ...delivery(deviceId), messageId: 'm-0' });
      expect(receiptIds(session.onFrame(wire({ ack: { messageIds: ['m-0', 'forged', 'm-0', `m-${outstanding - 1}`] } }), T0))).toEqual([['m-0', `m-${outstanding - 1}`]]);
      expect(session.onFrame(wire({ ack: { messageIds: ['m-0'] } }), T0)).toEqual({ send: [], effects: [] });
      const rest = ids.slice(1, -1);
      if (rest.length > 0) expect(receiptIds(session.onFrame(wire({ ack: { messageIds: rest } }), T0))).toEqual([rest]);
      // Everything acknowledged: a new write starts over from one.
      session.deliver({ ...delivery(deviceId), messageId: 'next' });
      expect(receiptIds(session.onFrame(wire({ ack: { messageIds: ['next', ...ids] } }), T0))).toEqual([['next']]);
    }
  });

  it('keys unacknowledged ids by a small integer; two ids with one key never get more receipts than the notifications written', () => {
    const keys = ['01936f5e-7c1a-7b3e-9a4f-000000000001', '', 'é', 'x'.repeat(128)].map(ackKey);
    for (const key of keys) expect(Number.isInteger(key) && key >= 0 && key < 2 ** 30).toBe(true);
    expect(ackKey('m-1')).toBe(ackKey('m-1'));
    // Two ids sharing a key (found by search, as an attacker could).
    const seen = new Map<number, string>();
    let pair: [string, string] | null = null;
    for (let i = 0; pair === null; i++) {
      const id = `forged-${i}`;
      const other = seen.get(ackKey(id));
      if (other !== undefined) pair = [other, id];
      else seen.set(ackKey(id), id);
    }
    const [written, forged] = pair;
    const { session, deviceId } = openSession();
    session.deliver({ ...delivery(deviceId), messageId: written });
    session.deliver({ ...delivery(deviceId), messageId: 'm-2' });
    expect(receiptIds(session.onFrame(wire({ ack: { messageIds: [forged, written, 'm-2'] } }), T0))).toEqual([[forged, 'm-2']]);
    expect(session.onFrame(wire({ ack: { messageIds: [written, forged] } }), T0)).toEqual({ send: [], effects: [] });
  });

  it('keeps counting right when the oldest, middle and newest are acknowledged in any order', () => {
    const { session, deviceId } = openSession();
    const write = (messageId: string) => session.deliver({ ...delivery(deviceId), messageId });
    for (let i = 0; i < 8; i++) write(`a-${i}`);
    expect(receiptIds(session.onFrame(wire({ ack: { messageIds: ['a-0', 'a-1', 'a-2', 'a-3', 'a-4', 'a-6'] } }), T0))).toEqual([['a-0', 'a-1', 'a-2', 'a-3', 'a-4', 'a-6']]);
    for (let i = 0; i < 12; i++) write(`b-${i}`);
    const outstanding = ['a-5', 'a-7', ...Array.from({ length: 12 }, (_, i) => `b-${i}`)];
    expect(receiptIds(session.onFrame(wire({ ack: { messageIds: ['a-6', ...outstanding.reverse()] } }), T0))).toEqual([outstanding]);
    expect(session.onFrame(wire({ ack: { messageIds: ['a-5', 'b-0'] } }), T0)).toEqual({ send: [], effects: [] });
  });

  it('remembers at most MAX_UNACKED unacknowledged notifications, forgetting the oldest', () => {
    const { session, deviceId } = openSession();
    for (let i = 0; i <= MAX_UNACKED; i++) session.deliver({ ...delivery(deviceId), messageId: `m-${i}` });
    expect(receiptIds(session.onFrame(wire({ ack: { messageIds: ['m-0', 'm-1', `m-${MAX_UNACKED}`] } }), T0))).toEqual([['m-1', `m-${MAX_UNACKED}`]]);
  });

  it.each<[string, FrameInit, number, number]>([
    ['Ack', { ack: { messageIds: [] } }, 1000, 100],
    ['Ping', { ping: { nonce: 1 } }, 3, 500],
    ['RotateCredentials', { rotateCredentials: { requestId: 1 } }, 4, 100],
  ])('a %s beyond its burst gets RATE_LIMITED and the connection closes; at the rate it never does', (_, frame, burst, intervalMs) => {
    const steady = openSession().session;
    for (let i = 0; i < 3 * burst; i++) {
      steady.onFrame(wire(frame), T0 + i * intervalMs);
      expect(steady.acceptsInput).toBe(true);
    }
    const { session } = openSession();
    for (let i = 0; i < burst; i++) session.onFrame(wire(frame), T0);
    expect(session.acceptsInput).toBe(true);
    const step = session.onFrame(wire(frame), T0);
    expect(wire(step.send[0]!).error).toMatchObject({ code: DeviceErrorCode.RATE_LIMITED, requestId: 0 });
    expect(step.effects).toEqual([expect.objectContaining({ type: 'close' })]);
    expect(session.acceptsInput).toBe(false);
  });

  it('Register, Unregister, Subscribe and Unsubscribe share the request budget', () => {
    const { session } = openSession();
    session.onFrame(wire({ register: { requestId: 1, applicationId: 'a' } }), T0);
    session.onFrame(wire({ unregister: { requestId: 2, applicationId: 'a', registrationId: 'r' } }), T0);
    session.onFrame(wire({ subscribe: { requestId: 3, registrationId: 'r', topics: ['t'] } }), T0);
    session.onFrame(wire({ unsubscribe: { requestId: 4, registrationId: 'r', topics: ['t'] } }), T0);
    const step = session.onFrame(wire({ register: { requestId: 5, applicationId: 'a' } }), T0);
    expect(wire(step.send[0]!).error?.code).toBe(DeviceErrorCode.RATE_LIMITED);
  });

  it('the budget refills at its rate after a burst', () => {
    const { session } = openSession();
    for (let i = 0; i < 3; i++) session.onFrame(wire({ ping: { nonce: i } }), T0);
    // One interval later there is room for exactly one more.
    expect(wire(session.onFrame(wire({ ping: { nonce: 9 } }), T0 + 500).send[0]!).pong?.nonce).toBe(9);
    expect(wire(session.onFrame(wire({ ping: { nonce: 10 } }), T0 + 500).send[0]!).error?.code).toBe(DeviceErrorCode.RATE_LIMITED);
  });

  it('a wall clock that steps back does not refuse the next frame', () => {
    const { session } = openSession();
    for (let i = 0; i < 3; i++) session.onFrame(wire({ ping: { nonce: i } }), T0 + 60_000);
    expect(wire(session.onFrame(wire({ ping: { nonce: 4 } }), T0).send[0]!).pong?.nonce).toBe(4);
  });

  it('an Ack spends its budget by its ids, also after GoAway', () => {
    const { session } = openSession();
    session.goAway(0, 'draining');
    const ids = Array.from({ length: 999 }, (_, i) => `x-${i}`);
    expect(session.onFrame(wire({ ack: { messageIds: ids } }), T0).send).toEqual([]);
    expect(session.onFrame(wire({ ack: { messageIds: [] } }), T0).send).toEqual([]);
    expect(wire(session.onFrame(wire({ ack: { messageIds: ['x'] } }), T0).send[0]!).error?.code).toBe(DeviceErrorCode.RATE_LIMITED);
  });
});

describe('DeviceSession: group pushes, remembered per message by the server (issue 15, finding 4)', () => {
  const receiptIds = (step: Step) => step.effects.flatMap((e) => (e.type === 'publishReceipt' ? [e.receipt.messageIds] : []));

  /** Sessions of one server: they share its GroupDeliveries. */
  function server() {
    const groups = new GroupDeliveries();
    let n = 0;
    const context = { settings, epochMs: T0 - 5000, credentials: authority, groups, newCorrelationId: () => `corr-${++n}` };
    const open = (credentials?: { deviceId: string; secret: string }) => {
      const session = new DeviceSession(context, T0);
      session.onFrame(wire({ hello: { protocolVersion: PROTOCOL_VERSION, credentials: credentials ?? null } }), T0);
      return { session, deviceId: session.deviceId! };
    };
    return { groups, open };
  }

  it('counts each device\'s Ack of a broadcast once, and nobody else\'s', () => {
    const { groups, open } = server();
    const devices = [open(), open(), open()];
    const bystander = open();
    for (const messageId of ['b-1', 'b-2', 'b-3']) for (const d of devices) d.session.deliver({ ...delivery(d.deviceId), messageId });
    // The first notification each device has outstanding is its own; the rest are the server's, per message.
    expect(groups.size.messages).toBe(2);
    expect(receiptIds(bystander.session.onFrame(wire({ ack: { messageIds: ['b-1', 'b-2', 'b-3'] } }), T0))).toEqual([]);
    for (const d of devices) {
      expect(receiptIds(d.session.onFrame(wire({ ack: { messageIds: ['b-3', 'forged', 'b-1', 'b-3', 'b-2'] } }), T0))).toEqual([['b-3', 'b-1', 'b-2']]);
      expect(receiptIds(d.session.onFrame(wire({ ack: { messageIds: ['b-1', 'b-2', 'b-3'] } }), T0))).toEqual([]);
    }
    // Every device acknowledged: the server remembers nothing (the last run's entry goes when the next run starts).
    devices[0]!.session.deliver({ ...delivery(devices[0]!.deviceId), messageId: 'next' });
    expect(groups.size.messages).toBe(0);
  });

  it('does not let a later connection in the same slot acknowledge what an earlier one was written', () => {
    const { groups, open } = server();
    // The first delivery of a run is not known to start one: the lead device keeps its own.
    const [lead, a, b] = [open(), open(), open()];
    for (const messageId of ['b-1', 'b-2']) for (const d of [lead, a, b]) d.session.deliver({ ...delivery(d.deviceId), messageId });
    expect(groups.size.slots).toBe(2);
    b.session.onClosed();
    expect(groups.size.slots).toBe(1);
    // The same device again (its slot given back and taken again): a new connection was written nothing yet.
    const again = open({ deviceId: b.deviceId, secret: authority.issue(T0, b.deviceId).secret });
    for (const messageId of ['b-3', 'b-4']) for (const d of [lead, a, again]) d.session.deliver({ ...delivery(d.deviceId), messageId });
    expect(groups.size.slots).toBe(2);
    expect(receiptIds(again.session.onFrame(wire({ ack: { messageIds: ['b-1', 'b-2', 'b-3', 'b-4'] } }), T0))).toEqual([['b-3', 'b-4']]);
    expect(receiptIds(a.session.onFrame(wire({ ack: { messageIds: ['b-1', 'b-2', 'b-3', 'b-4'] } }), T0))).toEqual([['b-1', 'b-2', 'b-3', 'b-4']]);
  });

  it('counts Acks exactly as a model of each connection\'s unacknowledged notifications does, over random pushes, Acks and reconnects', () => {
    let seed = 20261206;
    const random = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const { open } = server();
    type Device = { session: DeviceSession; deviceId: string; written: Set<string> };
    const devices: Device[] = Array.from({ length: 12 }, () => ({ ...open(), written: new Set<string>() }));
    let messages = 0;
    const sent: string[] = [];
    const pick = () => (sent.length > 0 && random(4) === 0 ? sent[random(sent.length)]! : `m-${++messages}`);
    let now = T0;
    for (let step = 0; step < 4000; step++) {
      now += 2000;
      const op = random(10);
      if (op < 3) {
        // A group push (sometimes a message again) to a random subset, one after another.
        const messageId = pick();
        sent.push(messageId);
        for (const d of devices) {
          if (random(3) === 0) continue;
          expect(d.session.deliver({ ...delivery(d.deviceId), messageId })).toBe(true);
          d.written.add(messageId);
        }
      } else if (op < 6) {
        const d = devices[random(devices.length)]!;
        const messageId = pick();
        sent.push(messageId);
        d.session.deliver({ ...delivery(d.deviceId), messageId });
        d.written.add(messageId);
      } else if (op < 9) {
        const d = devices[random(devices.length)]!;
        const ids = Array.from({ length: 1 + random(8) }, () => (random(5) === 0 ? `forged-${random(1000)}` : sent.length > 0 ? sent[random(sent.length)]! : 'none'));
        const expected = ids.filter((id) => d.written.delete(id));
        const got = receiptIds(d.session.onFrame(wire({ ack: { messageIds: ids } }), now));
        expect(got).toEqual(expected.length > 0 ? [expected] : []);
      } else {
        // A reconnect: the old connection closes, the new one was written nothing.
        const i = random(devices.length);
        const old = devices[i]!;
        old.session.onClosed();
        devices[i] = { ...(random(2) === 0 ? open() : open({ deviceId: old.deviceId, secret: authority.issue(T0, old.deviceId).secret })), written: new Set<string>() };
      }
    }
  });
});

describe('DeviceSession: per-source enrollment and Register budgets (issue 15, finding 5)', () => {
  /** Two enrollments and three Registers per source at once, then one a second each. */
  function limits(): SourceLimits {
    const enroll = new SourceShares(1, 2);
    const register = new SourceShares(1, 3);
    return { enroll: (source, now) => enroll.tryTake(source, now), register: (source, now) => register.tryTake(source, now) };
  }
  const sessionFrom = (sourceLimits: SourceLimits, source: string) =>
    new DeviceSession({ settings, epochMs: T0 - 5000, credentials: authority, sourceLimits, newCorrelationId: () => 'corr' }, T0, source);
  const hello = (session: DeviceSession, credentials?: { deviceId: string; secret: string }, at = T0) =>
    session.onFrame(wire({ hello: { protocolVersion: PROTOCOL_VERSION, credentials: credentials ?? null } }), at);

  it('refuses a Hello without credentials past the source budget with RATE_LIMITED; other sources and known devices are not held up', () => {
    const shared = limits();
    for (let i = 0; i < 2; i++) expect(hello(sessionFrom(shared, '192.0.2.1')).effects[0]).toMatchObject({ type: 'authenticated' });
    const refused = sessionFrom(shared, '192.0.2.1');
    expectErrorAndClose(hello(refused), DeviceErrorCode.RATE_LIMITED);
    expect(refused.deviceId).toBeNull();
    expect(hello(sessionFrom(shared, '192.0.2.2')).effects[0]).toMatchObject({ type: 'authenticated' });
    // A device that has its credentials costs no enrollment.
    const known = authority.issue(T0);
    expect(hello(sessionFrom(shared, '192.0.2.1'), known).effects[0]).toEqual({ type: 'authenticated', deviceId: known.deviceId });
    // The budget refills at its rate.
    expect(hello(sessionFrom(shared, '192.0.2.1'), undefined, T0 + 1000).effects[0]).toMatchObject({ type: 'authenticated' });
  });

  it('answers a Register past the source budget, across connections, with RATE_LIMITED for that request and keeps the connection', () => {
    const shared = limits();
    const a = sessionFrom(shared, '192.0.2.7');
    const b = sessionFrom(shared, '192.0.2.7');
    hello(a);
    hello(b);
    expect(a.onFrame(wire({ register: { requestId: 1, applicationId: 'app-1' } }), T0).effects[0]).toMatchObject({ type: 'publishRegistration' });
    expect(b.onFrame(wire({ register: { requestId: 1, applicationId: 'app-1' } }), T0).effects[0]).toMatchObject({ type: 'publishRegistration' });
    expect(b.onFrame(wire({ register: { requestId: 2, applicationId: 'app-2' } }), T0).effects[0]).toMatchObject({ type: 'publishRegistration' });
    const refused = a.onFrame(wire({ register: { requestId: 3, applicationId: 'app-3' } }), T0);
    expect(refused.effects).toEqual([]);
    expect(wire(refused.send[0]!).error).toMatchObject({ code: DeviceErrorCode.RATE_LIMITED, requestId: 3 });
    expect(a.isOpen).toBe(true);
    // Subscribe is not a Register: not counted.
    expect(a.onFrame(wire({ subscribe: { requestId: 4, registrationId: 'r', topics: ['t'] } }), T0).effects[0]).toMatchObject({ type: 'publishRegistration' });
  });
});

describe('DeviceSession: registration secret (issue 15, finding 5)', () => {
  it('relays the SHA-256 of the secret a Register presents, never the secret; none without one', () => {
    const { session } = openSession();
    const withSecret = session.onFrame(wire({ register: { requestId: 1, applicationId: 'app-1', registrationSecret: 'brs_the-secret' } }), T0);
    const request = (withSecret.effects[0] as Extract<Step['effects'][number], { type: 'publishRegistration' }>).request;
    expect(request.registrationSecretHash).toBe(createHash('sha256').update('brs_the-secret').digest('hex'));
    expect(JSON.stringify(request)).not.toContain('the-secret');
    const without = session.onFrame(wire({ register: { requestId: 2, applicationId: 'app-1' } }), T0);
    expect((without.effects[0] as Extract<Step['effects'][number], { type: 'publishRegistration' }>).request.registrationSecretHash).toBeUndefined();
    // A fresh connection: at most two requests wait at once here.
    const tooLong = openSession().session.onFrame(wire({ register: { requestId: 3, applicationId: 'app-1', registrationSecret: 'x'.repeat(257) } }), T0);
    expect(wire(tooLong.send[0]!).error).toMatchObject({ code: DeviceErrorCode.INVALID_ARGUMENT, requestId: 3 });
  });
});

describe('DeviceSession: leaving', () => {
  it('releases the route when the socket closes, once', () => {
    const { session, deviceId } = openSession();
    expect(session.onClosed().effects).toEqual([{ type: 'released', deviceId }]);
    expect(session.onClosed()).toEqual({ send: [], effects: [] });
  });

  it('a connection that never said Hello releases nothing', () => {
    expect(newSession().onClosed()).toEqual({ send: [], effects: [] });
  });

  it('a replaced connection gets GoAway and leaves the route to its successor', () => {
    const { session } = openSession();
    const step = session.replaced();
    expect(wire(step.send[0]!).goAway?.reconnectDelayMs).toBe(REPLACED_RECONNECT_DELAY_MS);
    expect(step.effects).toEqual([{ type: 'linger' }]);
    expect(session.onClosed()).toEqual({ send: [], effects: [] });
  });

  it('goAway tells the delay and lingers: Acks and Pings still count, deliveries and requests do not', () => {
    const { session, deviceId } = openSession();
    session.deliver({ ...delivery(deviceId), messageId: 'm-1' });
    session.onFrame(wire({ register: { requestId: 1, applicationId: 'a' } }), T0);
    const step = session.goAway(1234, 'server shutting down');
    expect(wire(step.send[0]!).goAway).toMatchObject({ reconnectDelayMs: 1234, reason: 'server shutting down' });
    expect(step.effects).toEqual([{ type: 'linger' }]);
    expect(session.pendingRequests).toBe(0);
    expect(session.goAway(1, 'again')).toEqual({ send: [], effects: [] });
    expect(session.onFrame(wire({ ack: { messageIds: ['m-1'] } }), T0).effects).toEqual([
      { type: 'publishReceipt', receipt: expect.objectContaining({ status: 'delivered', deviceId, messageIds: ['m-1'] }) },
    ]);
    expect(wire(session.onFrame(wire({ ping: { nonce: 3 } }), T0).send[0]!).pong?.nonce).toBe(3);
    expect(session.onFrame(wire({ register: { requestId: 2, applicationId: 'a' } }), T0)).toEqual({ send: [], effects: [] });
    expect(session.deliver(delivery(deviceId))).toBe(false);
    expect(session.nextDeadline()).toBe(Infinity);
    expect(session.onClosed().effects).toEqual([{ type: 'released', deviceId }]);
  });

  it('goAway before Hello closes at once', () => {
    const session = newSession();
    expect(session.goAway(10, 'busy').effects).toEqual([{ type: 'close', reason: 'busy' }]);
  });
});
