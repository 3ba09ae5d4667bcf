import { DeviceErrorCode, DeviceProtocol, FrameError, FrameSplitter, MAX_FRAME_BYTES, NOTIFICATIONS_FRAME_VERSION, PROTOCOL_VERSION, decodeFrame, encodeFrame, encodeFramePrefixed, lengthPrefixed } from './device-protocol';

/** A frame body of `bytes` bytes; the splitter does not decode, so any bytes do (varied, so that a misplaced byte shows). */
function bodyOf(bytes: number, seed = bytes): Buffer {
  const body = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i++) body[i] = (i * 31 + seed) & 0xff;
  return body;
}

function pushInChunks(splitter: FrameSplitter, stream: Buffer, chunkBytes: number): Buffer[] {
  const frames: Buffer[] = [];
  for (let i = 0; i < stream.length; i += chunkBytes) frames.push(...splitter.push(stream.subarray(i, i + chunkBytes)));
  return frames;
}

/**
 * Bytes that Buffer allocates or copies while `run` runs: the `concat` and `from` results, the
 * `alloc*` sizes, the `copy` and `set` lengths. A byte both allocated and copied counts twice,
 * which only makes a bound on the total stricter.
 */
function bytesHandledBy(run: () => void): number {
  let bytes = 0;
  const count = <T extends Buffer | number>(out: T): T => {
    bytes += typeof out === 'number' ? out : out.length;
    return out;
  };
  const { concat, from, alloc, allocUnsafe, allocUnsafeSlow } = Buffer;
  const { copy } = Buffer.prototype;
  // Buffer's prototype chain ends in the Uint8Array of Node's own realm, not the test's.
  const typedArray = Object.getPrototypeOf(Buffer.prototype) as Uint8Array;
  const { set } = typedArray;
  const spies = [
    jest.spyOn(Buffer, 'concat').mockImplementation((...args) => count(concat.apply(Buffer, args))),
    jest.spyOn(Buffer, 'from').mockImplementation(((...args: unknown[]) => count((from as (...a: unknown[]) => Buffer).apply(Buffer, args))) as never),
    jest.spyOn(Buffer, 'alloc').mockImplementation((...args) => count(alloc.apply(Buffer, args))),
    jest.spyOn(Buffer, 'allocUnsafe').mockImplementation((...args) => count(allocUnsafe.apply(Buffer, args))),
    jest.spyOn(Buffer, 'allocUnsafeSlow').mockImplementation((...args) => count(allocUnsafeSlow.apply(Buffer, args))),
    jest.spyOn(Buffer.prototype, 'copy').mockImplementation(function (this: Buffer, ...args) {
      return count(copy.apply(this, args));
    }),
  ];
  typedArray.set = function (this: Uint8Array, source: ArrayLike<number>, offset?: number) {
    bytes += source.length;
    set.call(this, source, offset);
  };
  try {
    run();
  } finally {
    typedArray.set = set;
    for (const spy of spies) spy.mockRestore();
  }
  return bytes;
}

describe('FrameSplitter', () => {
  it('yields the same frames whatever the chunking, down to 1-byte chunks', () => {
    const bodies = [bodyOf(MAX_FRAME_BYTES), bodyOf(0), bodyOf(1), bodyOf(127), bodyOf(128), bodyOf(300), bodyOf(16_384)];
    const stream = Buffer.concat(bodies.map(lengthPrefixed));
    for (const chunkBytes of [1, 2, 3, 7, 127, 128, 1000, stream.length]) {
      const splitter = new FrameSplitter();
      const frames = pushInChunks(splitter, stream, chunkBytes);
      expect({ chunkBytes, frames: frames.map((f) => f.toString('base64')) }).toEqual({ chunkBytes, frames: bodies.map((b) => b.toString('base64')) });
      expect(splitter.bufferedBytes).toBe(0);
    }
  });

  it('does work linear in the frame size when a frame trickles in 1 byte at a time', () => {
    // Copying the pending bytes on every chunk costs n²/2: about 2 GiB for one 64 KiB frame.
    const body = bodyOf(MAX_FRAME_BYTES);
    const stream = lengthPrefixed(body);
    let frames: Buffer[] = [];
    const handled = bytesHandledBy(() => {
      frames = pushInChunks(new FrameSplitter(), stream, 1);
    });
    expect(frames).toHaveLength(1);
    expect(frames[0]!.equals(body)).toBe(true);
    // Each received byte copied once, plus a doubling buffer: about 4 bytes handled per byte.
    expect(handled).toBeLessThanOrEqual(6 * stream.length);
  });

  it('counts the bytes of an incomplete frame and lets go of them once it completes', () => {
    const stream = lengthPrefixed(bodyOf(1000));
    const splitter = new FrameSplitter();
    expect(splitter.push(stream.subarray(0, 1))).toEqual([]);
    expect(splitter.bufferedBytes).toBe(1);
    expect(splitter.push(stream.subarray(1, 600))).toEqual([]);
    expect(splitter.bufferedBytes).toBe(600);
    expect(splitter.push(stream.subarray(600))).toHaveLength(1);
    expect(splitter.bufferedBytes).toBe(0);
  });

  it('refuses a declared length over the limit before buffering it, also when the prefix trickles in', () => {
    const tooLarge = Buffer.from([0x81, 0x80, 0x04]); // 65,537
    const whole = new FrameSplitter();
    expect(() => whole.push(tooLarge)).toThrow(expect.objectContaining({ code: DeviceErrorCode.FRAME_TOO_LARGE, message: 'frame of 65537 bytes exceeds the limit of 65536' }));
    const trickled = new FrameSplitter();
    expect(trickled.push(tooLarge.subarray(0, 1))).toEqual([]);
    expect(trickled.push(tooLarge.subarray(1, 2))).toEqual([]);
    expect(() => trickled.push(tooLarge.subarray(2))).toThrow(FrameError);
  });

  it('refuses a length prefix longer than five bytes', () => {
    const splitter = new FrameSplitter();
    expect(() => splitter.push(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]))).toThrow(
      expect.objectContaining({ code: DeviceErrorCode.FRAME_TOO_LARGE, message: 'frame length prefix too long' }),
    );
  });

  it('returns whole frames of one chunk without copying them', () => {
    const bodies = [bodyOf(200), bodyOf(300)];
    const chunk = Buffer.concat(bodies.map(lengthPrefixed));
    const frames = new FrameSplitter().push(chunk);
    expect(frames.map((f) => f.buffer)).toEqual([chunk.buffer, chunk.buffer]);
  });
});

describe('the Notifications frame (protocol version 3)', () => {
  const notifications = [
    { messageId: 'm-1', applicationId: 'app-1', registrationId: 'reg-1', title: 'one', message: 'ё', data: '', sentAtMs: 1_767_225_600_123, expiresAtMs: 1_767_229_200_123 },
    { messageId: 'm-2', applicationId: 'app-2', registrationId: 'reg-2', title: '', message: '', data: '{"silent":true}', sentAtMs: 1, expiresAtMs: 2 },
  ];

  it('round-trips through the TCP framing with its notifications in order', () => {
    const stream = encodeFramePrefixed({ notifications: { notifications } });
    const [body] = new FrameSplitter().push(stream);
    const frame = decodeFrame(body!);
    expect(frame.kind).toBe('notifications');
    expect(DeviceProtocol.Frame.toObject(frame, { defaults: true }).notifications.notifications).toEqual(notifications);
  });

  it('is a Notification frame\'s bytes under another tag: field 17 of Frame, each notification field 1', () => {
    const single = Buffer.from(encodeFrame({ notification: notifications[0] }));
    const batch = Buffer.from(encodeFrame({ notifications: { notifications: [notifications[0]!] } }));
    expect(single[0]).toBe(0x42);
    expect([...batch.subarray(0, 2)]).toEqual([0x8a, 0x01]);
    expect(batch.subarray(3).equals(Buffer.concat([Buffer.from([0x0a]), single.subarray(1)]))).toBe(true);
  });

  it('a malformed one is a FrameError MALFORMED_FRAME', () => {
    // Its one notification claims 5 bytes and has 1.
    expect(() => decodeFrame(Buffer.from([0x8a, 0x01, 0x03, 0x0a, 0x05, 0x01]))).toThrow(expect.objectContaining({ code: DeviceErrorCode.MALFORMED_FRAME }));
    expect(NOTIFICATIONS_FRAME_VERSION).toBeLessThanOrEqual(PROTOCOL_VERSION);
  });
});
