import { DeviceErrorCode, ErrorCode, type DeliveryV1, type FrameInit, type RegistrationOp, type RegistrationReplyV1 } from '@borealis/contracts';

/** The one mapper from the error catalogue to device Error codes (total: the compiler checks every code). */
const DEVICE_ERROR_CODES: Record<ErrorCode, DeviceErrorCode> = {
  [ErrorCode.InvalidArgument]: DeviceErrorCode.INVALID_ARGUMENT,
  [ErrorCode.FailedPrecondition]: DeviceErrorCode.INVALID_ARGUMENT,
  [ErrorCode.NotFound]: DeviceErrorCode.NOT_FOUND,
  // Retryable on the device's side, like a timeout.
  [ErrorCode.Unavailable]: DeviceErrorCode.UNAVAILABLE,
  [ErrorCode.RateLimited]: DeviceErrorCode.UNAVAILABLE,
  // A Register without the application's registration secret (docs/security.md): with a request id, never a connection fault.
  [ErrorCode.PermissionDenied]: DeviceErrorCode.UNAUTHENTICATED,
  // The rest cannot describe a registration request from a device: a fault on the server side.
  [ErrorCode.MalformedBody]: DeviceErrorCode.INTERNAL,
  [ErrorCode.PayloadTooLarge]: DeviceErrorCode.INTERNAL,
  [ErrorCode.UnsupportedMediaType]: DeviceErrorCode.INTERNAL,
  [ErrorCode.Unauthenticated]: DeviceErrorCode.INTERNAL,
  [ErrorCode.Conflict]: DeviceErrorCode.INTERNAL,
  [ErrorCode.Internal]: DeviceErrorCode.INTERNAL,
};

export function deviceErrorCodeFor(errorCode: string | null): DeviceErrorCode {
  if (errorCode !== null && Object.hasOwn(DEVICE_ERROR_CODES, errorCode)) return DEVICE_ERROR_CODES[errorCode as ErrorCode];
  return DeviceErrorCode.INTERNAL;
}

export function errorFrame(code: DeviceErrorCode, message: string, requestId = 0): FrameInit {
  return { error: { code, message, requestId } };
}

/** push-core's answer to a device request: RegisterResult, RequestResult or Error, with the device's request id. */
export function replyFrame(requestId: number, op: RegistrationOp, reply: RegistrationReplyV1): FrameInit {
  if (!reply.ok) {
    return errorFrame(deviceErrorCodeFor(reply.errorCode), reply.errorMessage ?? reply.errorCode ?? `${op} failed`, requestId);
  }
  if (op === 'register') {
    return { registerResult: { requestId, applicationId: reply.applicationId, registrationId: reply.registrationId, isNew: reply.isNew } };
  }
  return { requestResult: { requestId } };
}

export function requestTimeoutFrame(requestId: number): FrameInit {
  return errorFrame(DeviceErrorCode.UNAVAILABLE, 'the registry did not answer in time; retry later', requestId);
}

/**
 * The Notification frame of a delivery, encoded by hand: the byte-for-byte output of the generated
 * encoder (fields in order, defaults left out), without its writer and intermediate objects.
 * Deliveries are the transport's hot path: a group push writes the same message to every recipient
 * device with only the registrationId changing, so the whole frame is encoded once per message and
 * registrationId length, and each delivery is one copy of it with the recipient's registrationId
 * written over its place.
 */
export function encodeNotification(delivery: DeliveryV1, lengthPrefix: boolean): Buffer {
  const template = frameTemplate(delivery, lengthPrefix);
  if (template === null) return encodeWhole(delivery, lengthPrefix);
  const out = Buffer.allocUnsafe(template.bytes.length);
  out.set(template.bytes);
  return writeAscii(out, template.registrationAt, delivery.registrationId) ? out : encodeWhole(delivery, lengthPrefix);
}

/**
 * The length-prefixed Notification frame in the template buffer itself, valid until the next call:
 * no buffer per delivery, as a server writing one buffer to every socket. A writer whose socket
 * kept the buffer (the write did not complete at once) calls `notificationRetained`, so that the
 * next delivery does not overwrite bytes still queued.
 */
export function sharedNotification(delivery: DeliveryV1): Buffer {
  const template = frameTemplate(delivery, true);
  if (template === null || !writeAscii(template.bytes, template.registrationAt, delivery.registrationId)) return encodeWhole(delivery, true);
  return template.bytes;
}

/** The buffer from `sharedNotification` is still queued on a socket: later deliveries use a copy. */
export function notificationRetained(bytes: Buffer): void {
  if (lastTemplate?.bytes === bytes) lastTemplate.bytes = Buffer.from(bytes);
}

/**
 * Several encoded Notification frames (no length prefix, as `encodeNotification(d, false)` makes
 * them) as one Notifications frame (protocol version 3), for devices that negotiated it. Each
 * frame is `0x42 len body` (Frame.notification, field 8) and becomes `0x0a len body`
 * (Notifications.notifications, field 1): the same bytes with another tag, so no re-encoding.
 */
export function encodeNotificationBatch(frames: readonly Buffer[], lengthPrefix: boolean): Buffer {
  let inner = 0;
  for (const frame of frames) inner += frame.length;
  const frameBytes = 2 + varintSize(inner) + inner;
  const out = Buffer.allocUnsafe((lengthPrefix ? varintSize(frameBytes) : 0) + frameBytes);
  let at = lengthPrefix ? writeVarint(out, 0, frameBytes) : 0;
  // Frame.notifications: field 17, length-delimited, the tag as a two-byte varint.
  out[at++] = 0x8a;
  out[at++] = 0x01;
  at = writeVarint(out, at, inner);
  for (const frame of frames) {
    if (frame[0] !== 0x42) throw new Error('not an encoded Notification frame');
    at += frame.copy(out, at);
    out[at - frame.length] = 0x0a;
  }
  return out;
}

/** Encoded frames (no length prefix) each with its varint length prefix, in one buffer: one socket write. */
export function prefixedFrames(frames: readonly Buffer[]): Buffer {
  let bytes = 0;
  for (const frame of frames) bytes += varintSize(frame.length) + frame.length;
  const out = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (const frame of frames) {
    at = writeVarint(out, at, frame.length);
    at += frame.copy(out, at);
  }
  return out;
}

/** The registrationId is ASCII in practice: written in place by a loop that gives up otherwise (the caller encodes the whole frame). */
function writeAscii(out: Buffer, at: number, value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x80) return false;
    out[at + i] = c;
  }
  return true;
}

interface FrameTemplate {
  delivery: DeliveryV1;
  lengthPrefix: boolean;
  /** The frame with the registrationId's bytes left to fill in. */
  bytes: Buffer;
  registrationAt: number;
}

let lastTemplate: FrameTemplate | null = null;

/**
 * The last message's frame template when only the registrationId's value changed (not its length);
 * null when the registrationId is not ASCII (its bytes do not follow from its length).
 */
function frameTemplate(d: DeliveryV1, lengthPrefix: boolean): FrameTemplate | null {
  const last = lastTemplate?.delivery;
  if (
    last &&
    lastTemplate!.lengthPrefix === lengthPrefix &&
    last.registrationId.length === d.registrationId.length &&
    last.messageId === d.messageId &&
    last.applicationId === d.applicationId &&
    last.title === d.title &&
    last.message === d.message &&
    last.data === d.data &&
    Object.is(last.sentAtMs, d.sentAtMs) &&
    Object.is(last.expiresAtMs, d.expiresAtMs)
  ) {
    return lastTemplate!;
  }
  if (Buffer.byteLength(d.registrationId, 'utf8') !== d.registrationId.length) return null;
  const bytes = encodeWhole(d, lengthPrefix);
  // The registrationId field is the one whose bytes sit right before the encoded fields 4 to 8.
  const tail = stringFields([d.title, d.message, d.data ?? ''], 4, [d.sentAtMs, d.expiresAtMs]).length;
  lastTemplate = { delivery: d, lengthPrefix, bytes, registrationAt: bytes.length - tail - d.registrationId.length };
  return lastTemplate;
}

/** The frame encoded field by field. */
function encodeWhole(delivery: DeliveryV1, lengthPrefix: boolean): Buffer {
  const head = stringFields([delivery.messageId, delivery.applicationId], 1, []);
  const tail = stringFields([delivery.title, delivery.message, delivery.data ?? ''], 4, [delivery.sentAtMs, delivery.expiresAtMs]);
  const registrationLength = Buffer.byteLength(delivery.registrationId, 'utf8');
  const body = head.length + (registrationLength > 0 ? 1 + varintSize(registrationLength) + registrationLength : 0) + tail.length;
  const frame = 1 + varintSize(body) + body;
  const out = Buffer.allocUnsafe((lengthPrefix ? varintSize(frame) : 0) + frame);
  let at = lengthPrefix ? writeVarint(out, 0, frame) : 0;
  out[at++] = 0x42; // Frame.notification: field 8, length-delimited
  at = writeVarint(out, at, body);
  at += head.copy(out, at);
  if (registrationLength > 0) {
    out[at++] = 0x1a; // registration_id: field 3, length-delimited
    at = writeVarint(out, at, registrationLength);
    at += out.write(delivery.registrationId, at, 'utf8');
  }
  tail.copy(out, at);
  return out;
}

/** Length-delimited string fields numbered from `firstField`, then 64-bit doubles numbered on (proto3: defaults left out). */
function stringFields(strings: string[], firstField: number, doubles: number[]): Buffer {
  let size = 0;
  const lengths = strings.map((value) => Buffer.byteLength(value, 'utf8'));
  for (const length of lengths) if (length > 0) size += 1 + varintSize(length) + length;
  for (const value of doubles) if (!Object.is(value, 0)) size += 9;
  const out = Buffer.alloc(size);
  let at = 0;
  strings.forEach((value, i) => {
    if (lengths[i] === 0) return;
    out[at++] = ((firstField + i) << 3) | 2;
    at = writeVarint(out, at, lengths[i]!);
    at += out.write(value, at, 'utf8');
  });
  doubles.forEach((value, i) => {
    if (Object.is(value, 0)) return;
    out[at++] = ((firstField + strings.length + i) << 3) | 1;
    at = out.writeDoubleLE(value, at);
  });
  return out;
}

function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

function writeVarint(out: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[at++] = n;
  return at;
}

/** The Notification frame of a delivery as a message (what encodeNotification writes). */
export function notificationFrame(delivery: DeliveryV1): FrameInit {
  return {
    notification: {
      messageId: delivery.messageId,
      applicationId: delivery.applicationId,
      registrationId: delivery.registrationId,
      title: delivery.title,
      message: delivery.message,
      data: delivery.data ?? '',
      sentAtMs: delivery.sentAtMs,
      expiresAtMs: delivery.expiresAtMs,
    },
  };
}
