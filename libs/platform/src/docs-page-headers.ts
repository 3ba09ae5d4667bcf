import { createHash } from 'node:crypto';

/**
 * Security headers of a documentation page (a Swagger UI) and of its files: a Content-Security-Policy
 * that lets the page run only the scripts served beside it and its one inline script (by hash), load
 * nothing from elsewhere, and be framed by no one; `nosniff`, so that a file is only ever what its
 * content type says; no referrer. Swagger UI sets inline styles and uses data: images.
 */
export function docsPageHeaders(inlineScript: string): Record<string, string> {
  const hash = createHash('sha256').update(inlineScript, 'utf8').digest('base64');
  return {
    'content-security-policy': [
      "default-src 'none'",
      `script-src 'self' 'sha256-${hash}'`,
      "style-src 'self' 'unsafe-inline'",
      "img-src 'self' data:",
      "connect-src 'self'",
      "font-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
    ...DOCS_FILE_HEADERS,
    'x-frame-options': 'DENY',
  };
}

/** What every file of a documentation page carries. */
export const DOCS_FILE_HEADERS: Readonly<Record<string, string>> = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };
