import { DeviceErrorCode } from '@borealis/contracts';

/** One notification as an app sees it (Aurora `Push`). */
export interface Push {
  /** The message id assigned by the service; unique, used for deduplication. */
  id: string;
  applicationId: string;
  title: string;
  message: string;
  /** The app server's `data` object as JSON text ('' when there was none). */
  data: string;
  sentAt: Date;
  expiresAt: Date;
}

/**
 * A silent push: the app server sent data only (Aurora's fields are each optional), so there is
 * nothing to show; the app handles it itself. Title and message are '' then.
 */
export function isSilentPush(push: Pick<Push, 'title' | 'message'>): boolean {
  return push.title === '' && push.message === '';
}

/**
 * Why a request failed, as an app sees it. `timeout`: no answer within the request timeout
 * (the device may have been offline all along); `cancelled`: the daemon was stopped;
 * `protocol`: the server broke or refused the protocol.
 */
export type PushErrorCode =
  | 'invalid_argument'
  | 'not_found'
  | 'unauthenticated'
  | 'unavailable'
  | 'timeout'
  | 'cancelled'
  | 'protocol'
  | 'internal';

export class PushError extends Error {
  constructor(
    readonly code: PushErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'PushError';
  }
}

// Total by construction: a new device error code fails to compile until it is mapped here.
const FROM_DEVICE_CODE: Record<DeviceErrorCode, PushErrorCode> = {
  [DeviceErrorCode.ERROR_CODE_UNSPECIFIED]: 'internal',
  [DeviceErrorCode.MALFORMED_FRAME]: 'protocol',
  [DeviceErrorCode.FRAME_TOO_LARGE]: 'protocol',
  [DeviceErrorCode.UNSUPPORTED_VERSION]: 'protocol',
  [DeviceErrorCode.UNAUTHENTICATED]: 'unauthenticated',
  [DeviceErrorCode.PROTOCOL_VIOLATION]: 'protocol',
  [DeviceErrorCode.INVALID_ARGUMENT]: 'invalid_argument',
  [DeviceErrorCode.NOT_FOUND]: 'not_found',
  [DeviceErrorCode.UNAVAILABLE]: 'unavailable',
  [DeviceErrorCode.INTERNAL]: 'internal',
  [DeviceErrorCode.UNKNOWN_FRAME]: 'protocol',
  // The server closes the connection; the daemon reconnects with backoff, which slows it down.
  [DeviceErrorCode.RATE_LIMITED]: 'unavailable',
};

/** Maps a device protocol `Error` frame to the app-facing error. Unknown codes count as internal. */
export function pushErrorFromFrame(code: DeviceErrorCode, message: string): PushError {
  return new PushError(FROM_DEVICE_CODE[code] ?? 'internal', message || `server error ${code}`);
}
