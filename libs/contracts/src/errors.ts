/**
 * The error catalogue. Every failure a client can see carries one of these stable codes; each
 * protocol has one mapper from code to its own form (HTTP problem details, device Error frames,
 * consumer retry decisions). docs/errors.md publishes this list.
 */
export const ErrorCode = {
  /** A request field is missing, of the wrong type or out of range. */
  InvalidArgument: 'invalid_argument',
  /** The body is not parseable JSON (or form data). */
  MalformedBody: 'malformed_body',
  /** The body exceeds the size limit. */
  PayloadTooLarge: 'payload_too_large',
  /** The Content-Type is not one the endpoint accepts. */
  UnsupportedMediaType: 'unsupported_media_type',
  /** No credentials, or credentials that do not verify. */
  Unauthenticated: 'unauthenticated',
  /** Valid credentials without the right to this resource (other project, missing scope). */
  PermissionDenied: 'permission_denied',
  NotFound: 'not_found',
  /** The request conflicts with the current state (for example a duplicate name). */
  Conflict: 'conflict',
  /** The project or a referenced entity is inactive. */
  FailedPrecondition: 'failed_precondition',
  RateLimited: 'rate_limited',
  /** A dependency cannot make the request durable now; retrying later may succeed. */
  Unavailable: 'unavailable',
  Internal: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Codes that describe the input rather than the system: never worth retrying. */
const BAD_INPUT: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.InvalidArgument,
  ErrorCode.MalformedBody,
  ErrorCode.PayloadTooLarge,
  ErrorCode.UnsupportedMediaType,
  ErrorCode.Unauthenticated,
  ErrorCode.PermissionDenied,
  ErrorCode.NotFound,
  ErrorCode.Conflict,
  ErrorCode.FailedPrecondition,
]);

/** A failure with a stable code. Services throw these; they never throw protocol exceptions. */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: { retryAfterSeconds?: number; fields?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

/**
 * The one retry decision: a DomainError with a bad-input code is permanent (dead-letter, skip);
 * anything else (I/O errors, timeouts, unavailable dependencies, bugs) is retried.
 */
export function isRetryable(err: unknown): boolean {
  return !(err instanceof DomainError && BAD_INPUT.has(err.code));
}

/** RFC 6749 §5.2 error codes, used only by the OAuth2 token endpoint. */
export const OAuthErrorCode = {
  InvalidRequest: 'invalid_request',
  InvalidClient: 'invalid_client',
  InvalidGrant: 'invalid_grant',
  UnauthorizedClient: 'unauthorized_client',
  UnsupportedGrantType: 'unsupported_grant_type',
  InvalidScope: 'invalid_scope',
} as const;
export type OAuthErrorCode = (typeof OAuthErrorCode)[keyof typeof OAuthErrorCode];

export class OAuthError extends Error {
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    readonly status: 400 | 401 | 429 | 503 = error === OAuthErrorCode.InvalidClient ? 401 : 400,
  ) {
    super(description);
    this.name = 'OAuthError';
  }
}
