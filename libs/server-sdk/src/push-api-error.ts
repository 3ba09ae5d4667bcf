/**
 * A refusal from the push API or the token endpoint. `code` is the stable machine-readable code:
 * the problem's `code` (RFC 9457 body) or the OAuth `error` (RFC 6749 body). `status` is 0 when no
 * HTTP answer arrived.
 */
export class PushApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail: string,
    /** From `Retry-After`, when the server sent one. */
    readonly retryAfterSeconds: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(`${status ? `HTTP ${status} ` : ''}${code}${detail ? `: ${detail}` : ''}`, options);
    this.name = 'PushApiError';
  }

  static async fromResponse(response: Response): Promise<PushApiError> {
    const text = await response.text().catch(() => '');
    const body = parseJson(text);
    const retryAfter = Number(response.headers.get('retry-after'));
    const retryAfterSeconds = Number.isFinite(retryAfter) && retryAfter >= 0 && response.headers.has('retry-after') ? retryAfter : null;
    const fallbackCode = `http_${response.status}`;
    if (body && typeof body['error'] === 'string') {
      return new PushApiError(response.status, body['error'], body['error'], stringOr(body['error_description'], ''), retryAfterSeconds);
    }
    if (body && (typeof body['code'] === 'string' || typeof body['title'] === 'string')) {
      return new PushApiError(
        response.status,
        stringOr(body['code'], fallbackCode),
        stringOr(body['title'], response.statusText),
        stringOr(body['detail'], ''),
        retryAfterSeconds,
      );
    }
    return new PushApiError(response.status, fallbackCode, response.statusText, text.slice(0, 500), retryAfterSeconds);
  }
}

function parseJson(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}
