import type { z } from 'zod';

/**
 * A schema's issues as a problem's `errors` member: field path → the first thing wrong with it
 * (`notification.title`, `registration_ids[3]`; `body` for the body itself), each unknown field
 * or parameter named on its own with `unknown`.
 */
export function problemsOf(error: z.ZodError, unknown = 'is not a known field'): Record<string, string> {
  const problems: Record<string, string> = {};
  for (const issue of error.issues) {
    const at = pathOf(issue.path);
    if (issue.code === 'unrecognized_keys') for (const key of issue.keys) problems[at ? `${at}.${key}` : key] ??= unknown;
    else problems[at || 'body'] ??= issue.message;
  }
  return problems;
}

function pathOf(path: readonly PropertyKey[]): string {
  let at = '';
  for (const key of path) at += typeof key === 'number' ? `[${key}]` : at ? `.${String(key)}` : String(key);
  return at;
}
