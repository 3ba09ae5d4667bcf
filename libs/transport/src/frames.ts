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
