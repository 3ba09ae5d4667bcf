/**
 * The console's HTTP client of the admin API (/auth/admin/v1). The session is an HttpOnly cookie
 * the browser sends by itself (the script never sees it); every state-changing call carries the
 * session's CSRF token in `X-CSRF-Token` (docs/console.md). Errors are RFC 9457 problem details,
 * surfaced as `ProblemError` with the server's `detail`, `code` and field `errors`.
 */

export const ADMIN_BASE = '/auth/admin/v1';

export interface Problem {
  status: number;
  title: string;
  detail: string;
  code: string;
  errors?: Record<string, string>;
  errorId?: string;
}

export class ProblemError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail || problem.title);
    this.name = 'ProblemError';
  }
  get status(): number {
    return this.problem.status;
  }
  get code(): string {
    return this.problem.code;
  }
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Whether a method changes state, so needs the CSRF token. */
export function needsCsrf(method: string): boolean {
  return !SAFE_METHODS.has(method.toUpperCase());
}

/** Turns any failed answer into a Problem: problem+json as the API sends it, or a generic one. */
export async function problemOf(response: Response): Promise<Problem> {
  const text = await response.text().catch(() => '');
  let body: Record<string, unknown> | null = null;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    body = null;
  }
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
  const errors = body && body['errors'] && typeof body['errors'] === 'object' ? (body['errors'] as Record<string, string>) : undefined;
  const problem: Problem = {
    status: response.status,
    title: str(body?.['title']) ?? (response.statusText || `HTTP ${response.status}`),
    detail: str(body?.['detail']) ?? str(body?.['message']) ?? `The server answered ${response.status}${response.statusText ? ` ${response.statusText}` : ''}.`,
    code: str(body?.['code']) ?? (response.status === 401 ? 'unauthenticated' : 'unknown'),
  };
  if (errors) problem.errors = errors;
  const errorId = str(body?.['errorId']);
  if (errorId) problem.errorId = errorId;
  return problem;
}

export interface ApiClientOptions {
  fetch: FetchLike;
  /** Called when a signed-in call answers 401: the session expired or was ended elsewhere. */
  onUnauthenticated?: (problem: Problem) => void;
}

export class ApiClient {
  private csrfToken: string | null = null;

  constructor(private readonly options: ApiClientOptions) {}

  setCsrfToken(token: string | null): void {
    this.csrfToken = token;
  }

  get<T>(path: string, query?: Record<string, string | number | undefined | null>): Promise<T> {
    return this.request<T>('GET', withQuery(path, query));
  }
  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }
  patch<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body);
  }
  delete<T = void>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  /**
   * One call. `quiet401` is for the calls whose 401 is an answer, not an expiry (the session probe
   * at start-up, signing in).
   */
  async request<T>(method: string, path: string, body?: unknown, quiet401 = false): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (needsCsrf(method) && this.csrfToken) headers['x-csrf-token'] = this.csrfToken;
    const init: RequestInit = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) init.body = JSON.stringify(body);
    let response: Response;
    try {
      response = await this.options.fetch(`${ADMIN_BASE}/${path.replace(/^\//, '')}`, init);
    } catch (error) {
      throw new ProblemError({ status: 0, title: 'Network error', detail: `The server could not be reached (${(error as Error).message}).`, code: 'unavailable' });
    }
    if (!response.ok) {
      const problem = await problemOf(response);
      if (response.status === 401 && !quiet401) this.options.onUnauthenticated?.(problem);
      throw new ProblemError(problem);
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }
}

/** `path?k=v&...`, leaving out empty values. */
export function withQuery(path: string, query?: Record<string, string | number | undefined | null>): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    params.set(key, String(value));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/** The message to show for any error a call rejected with. */
export function describeError(error: unknown): Problem {
  if (error instanceof ProblemError) return error.problem;
  return { status: 0, title: 'Error', detail: error instanceof Error ? error.message : String(error), code: 'unknown' };
}
