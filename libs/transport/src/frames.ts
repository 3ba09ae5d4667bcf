import { DeviceErrorCode, ErrorCode, type DeliveryV1, type FrameInit, type RegistrationOp, type RegistrationReplyV1 } from '@borealis/contracts';

/** The one mapper from the error catalogue to device Error codes (total: the compiler checks every code). */
const DEVICE_ERROR_CODES: Record<ErrorCode, DeviceErrorCode> = {
  [ErrorCode.InvalidArgument]: DeviceErrorCode.INVALID_ARGUMENT,
  [ErrorCode.FailedPrecondition]: DeviceErrorCode.INVALID_ARGUMENT,
  [ErrorCode.NotFound]: DeviceErrorCode.NOT_FOUND,
  // Retryable on the device's side, like a timeout.
  [ErrorCode.Unavailable]: DeviceErrorCode.UNAVAILABLE,
  [ErrorCode.RateLimited]: DeviceErrorCode.UNAVAILABLE,
  // The rest cannot describe a registration request from a device: a fault on the server side.
  [ErrorCode.MalformedBody]: DeviceErrorCode.INTERNAL,
  [ErrorCode.PayloadTooLarge]: DeviceErrorCode.INTERNAL,
  [ErrorCode.UnsupportedMediaType]: DeviceErrorCode.INTERNAL,
  [ErrorCode.Unauthenticated]: DeviceErrorCode.INTERNAL,
  [ErrorCode.PermissionDenied]: DeviceErrorCode.INTERNAL,
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
 * The Notification frame of a delivery, encoded by hand straight into one buffer: the byte-for-byte
 * output of the generated encoder (fields in order, defaults left out), without its writer and
 * the intermediate objects. Deliveries are the transport's hot path: a broadcast writes one per
 * device, and allocation there is what the garbage collector pays for later.
 */
export function encodeNotification(delivery: DeliveryV1, lengthPrefix: boolean): Buffer {
  const data = delivery.data ?? '';
  const strings = [delivery.messageId, delivery.applicationId, delivery.registrationId, delivery.title, delivery.message, data];
  // proto3: fields at their default ('' and 0) are not written.
  let body = (!Object.is(delivery.sentAtMs, 0) ? 9 : 0) + (!Object.is(delivery.expiresAtMs, 0) ? 9 : 0);
  const lengths = [0, 0, 0, 0, 0, 0];
  for (let i = 0; i < 6; i++) {
    const length = Buffer.byteLength(strings[i]!, 'utf8');
    lengths[i] = length;
    if (length > 0) body += 1 + varintSize(length) + length;
  }
  const frame = 1 + varintSize(body) + body;
  const out = Buffer.allocUnsafe((lengthPrefix ? varintSize(frame) : 0) + frame);
  let at = lengthPrefix ? writeVarint(out, 0, frame) : 0;
  out[at++] = 0x42; // Frame.notification: field 8, length-delimited
  at = writeVarint(out, at, body);
  for (let i = 0; i < 6; i++) {
    if (lengths[i] === 0) continue;
    out[at++] = ((i + 1) << 3) | 2;
    at = writeVarint(out, at, lengths[i]!);
    at += out.write(strings[i]!, at, 'utf8');
  }
  if (!Object.is(delivery.sentAtMs, 0)) {
    out[at++] = 0x39; // sent_at_ms: field 7, 64-bit
    at = out.writeDoubleLE(delivery.sentAtMs, at);
  }
  if (!Object.is(delivery.expiresAtMs, 0)) {
    out[at++] = 0x41; // expires_at_ms: field 8, 64-bit
    out.writeDoubleLE(delivery.expiresAtMs, at);
  }
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
