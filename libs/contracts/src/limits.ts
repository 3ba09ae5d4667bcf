import { DomainError, ErrorCode } from './errors';

/** Limits of the send API (docs/api.md). Counted in Unicode code points, not UTF-16 units. */
export const Limits = {
  titleMaxChars: 512,
  messageMaxChars: 2048,
  /** Size of `data` serialized as JSON text, in UTF-8 bytes. */
  dataMaxBytes: 4096,
  /** Longest accepted TTL: 28 days, like FCM. */
  ttlMaxSeconds: 28 * 24 * 3600,
  /** TTL when the request gives none. */
  ttlDefaultSeconds: 4 * 7 * 24 * 3600,
  targetMaxChars: 256,
  collapseKeyMaxChars: 128,
  /** Largest request body the HTTP API reads. */
  bodyMaxBytes: 64 * 1024,
} as const;

const TTL_PATTERN = /^(?:(\d{1,6})h)?(?:(\d{1,6})m)?(?:(\d{1,8})s)?$/;

/**
 * Parses an Aurora TTL such as `5h30m`, `90s` or `1h` (units h, m, s in that order, each at most
 * once). Returns seconds; throws invalid_argument for anything else or beyond the maximum.
 */
export function parseTtl(text: string): number {
  const match = TTL_PATTERN.exec(text);
  if (!text || !match || (match[1] === undefined && match[2] === undefined && match[3] === undefined)) {
    throw new DomainError(ErrorCode.InvalidArgument, `ttl "${text.slice(0, 32)}" is not a duration like 5h30m (units h, m, s)`, {
      fields: { ttl: 'invalid duration' },
    });
  }
  const seconds = Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0);
  if (seconds > Limits.ttlMaxSeconds) {
    throw new DomainError(ErrorCode.InvalidArgument, `ttl exceeds the maximum of ${Limits.ttlMaxSeconds / 86400} days`, {
      fields: { ttl: 'too long' },
    });
  }
  return seconds;
}

export function codePointLength(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}
