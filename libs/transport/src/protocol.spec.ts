import { DeviceErrorCode, DeviceProtocol, FrameSplitter, decodeFrame, encodeFrame, encodeFramePrefixed, type FrameInit, type FrameKind } from '@borealis/contracts';

/** One populated example of every frame; a Record, so a new frame kind fails to compile until it is added here. */
const EXAMPLES: Record<FrameKind, FrameInit> = {
  hello: {
    hello: {
      protocolVersion: 1,
      minProtocolVersion: 1,
      credentials: { deviceId: 'd'.repeat(22), secret: 'lz3k1c.' + 's'.repeat(43) },
      registrations: [{ applicationId: 'app-1', registrationId: 'reg-1' }, { applicationId: 'app-2', registrationId: '', deviceUser: '1001' }],
      clientName: 'spec',
    },
  },
  welcome: { welcome: { protocolVersion: 1, deviceId: 'd'.repeat(22), credentials: { deviceId: 'd'.repeat(22), secret: 'x' }, heartbeatIntervalMs: 30_000 } },
  register: { register: { requestId: 1, applicationId: 'app-1', registrationId: 'reg-1', deviceUser: '1001' } },
  registerResult: { registerResult: { requestId: 1, applicationId: 'app-1', registrationId: 'reg-2', isNew: true } },
  unregister: { unregister: { requestId: 2, applicationId: 'app-1', registrationId: 'reg-2' } },
  subscribe: { subscribe: { requestId: 3, registrationId: 'reg-2', topics: ['news', 'sport'] } },
  unsubscribe: { unsubscribe: { requestId: 4, registrationId: 'reg-2', topics: ['sport'] } },
  requestResult: { requestResult: { requestId: 4 } },
  notification: {
    notification: { messageId: 'm-1', applicationId: 'app-1', registrationId: 'reg-2', title: 'Привет', message: 'мир ✓', data: '{"k":[1,2]}', sentAtMs: 1_767_225_600_123, expiresAtMs: 1_767_229_200_123 },
  },
  notifications: {
    notifications: {
      notifications: [
        { messageId: 'm-2', applicationId: 'app-1', registrationId: 'reg-2', title: 'one', message: '', data: '', sentAtMs: 1_767_225_600_123, expiresAtMs: 1_767_229_200_123 },
        { messageId: 'm-3', applicationId: 'app-2', registrationId: 'reg-3', title: '', message: '', data: '{"silent":true}', sentAtMs: 1, expiresAtMs: 2 },
      ],
    },
  },
  ack: { ack: { messageIds: ['m-1', 'm-2'] } },
  ping: { ping: { nonce: 0xffffffff } },
  pong: { pong: { nonce: 7 } },
  goAway: { goAway: { reconnectDelayMs: 4321, reason: 'server shutting down' } },
  error: { error: { code: DeviceErrorCode.UNKNOWN_FRAME, message: 'frame carries no known kind', requestId: 9 } },
  rotateCredentials: { rotateCredentials: { requestId: 5 } },
  credentialsRotated: { credentialsRotated: { requestId: 5, credentials: { deviceId: 'd'.repeat(22), secret: 'y' } } },
};

describe('device protocol round trips', () => {
  it.each(Object.entries(EXAMPLES) as [FrameKind, FrameInit][])('%s survives the TCP framing and a WebSocket message', (kind, frame) => {
    const stream = Buffer.concat([encodeFramePrefixed(frame), encodeFramePrefixed(frame)]);
    // Split at every byte boundary: the splitter must reassemble whatever the chunking.
    const splitter = new FrameSplitter();
    const bodies: Buffer[] = [];
    for (let i = 0; i < stream.length; i += 3) bodies.push(...splitter.push(stream.subarray(i, i + 3)));
    expect(bodies).toHaveLength(2);
    for (const body of [...bodies, Buffer.from(encodeFrame(frame))]) {
      const decoded = decodeFrame(body);
      expect(decoded.kind).toBe(kind);
      const asObject = (f: InstanceType<typeof DeviceProtocol.Frame>) => DeviceProtocol.Frame.toObject(f, { defaults: true, arrays: true })[kind] as unknown;
      expect(asObject(decoded)).toEqual(asObject(DeviceProtocol.Frame.fromObject(frame)));
      expect(asObject(decoded)).toBeDefined();
    }
  });
});
