import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@borealis/testing';
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';

/** Debian's Chromium (TOOLCHAIN.md: playwright cannot download its own browsers here). */
export const CHROMIUM = process.env['BOREALIS_CHROMIUM'] ?? '/usr/bin/chromium';

/** Where each run writes its screenshots (git-ignored). */
export const SCREENSHOTS = join(REPO_ROOT, 'tmp', 'console-screenshots');

export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `The console's browser tests need Chromium at ${CHROMIUM}, which is missing. Install Debian's package: ` +
        '`sudo apt-get install -y chromium` (.ci/run does it), or point BOREALIS_CHROMIUM at another Chromium binary.',
    );
  }
}

export function requireBuiltConsole(): void {
  if (!existsSync(join(REPO_ROOT, 'dist', 'apps', 'console', 'index.html'))) {
    throw new Error('dist/apps/console/index.html is missing: run `npm run build` first (npm test does).');
  }
}

/**
 * Headless Chromium with the flags TOOLCHAIN.md gives for this machine. Playwright's launch gives
 * every run a fresh temporary profile (user-data-dir) and removes it on close; every context is a
 * separate cookie jar (one per signed-in person).
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    args: ['--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

export interface Problems {
  /** Console messages of level error or warning, page errors, CSP violations, failed requests. */
  all: string[];
  /** The same, less those an API answer with an expected status explains (see `expectStatus`). */
  unexpected(): string[];
  /** Declares that the browser may report `status` for API calls to `pathPart` (a deliberate refusal). */
  expectStatus(pathPart: string, status: number): void;
}

/**
 * Watches a page for everything the CSP check forbids: console errors and warnings (Chromium
 * reports a CSP violation there too), uncaught errors, `securitypolicyviolation` events, and
 * requests that failed or answered 4xx/5xx.
 */
export async function watch(context: BrowserContext): Promise<Problems> {
  const all: string[] = [];
  const allowed: { pathPart: string; status: number }[] = [];
  // Reported back through the console, so the test sees a violation even if the page swallowed it.
  await context.addInitScript({
    content:
      "document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' (' + e.sourceFile + ':' + e.lineNumber + ')'));",
  });
  const onPage = (page: Page) => {
    page.on('console', (msg: ConsoleMessage) => {
      if (msg.type() === 'error' || msg.type() === 'warning') all.push(`console ${msg.type()}: ${msg.text()} @ ${msg.location().url}`);
    });
    page.on('pageerror', (error) => all.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => {
      // A download's blob: URL and a navigation that replaced a pending request are not failures.
      if (!request.url().startsWith('blob:') && request.failure()?.errorText !== 'net::ERR_ABORTED') all.push(`request failed: ${request.url()} ${request.failure()?.errorText}`);
    });
    page.on('response', (response) => {
      if (response.status() >= 400) all.push(`HTTP ${response.status()}: ${response.request().method()} ${response.url()}`);
    });
  };
  context.on('page', onPage);
  for (const page of context.pages()) onPage(page);
  return {
    all,
    expectStatus: (pathPart, status) => allowed.push({ pathPart, status }),
    unexpected: () =>
      all.filter((line) => {
        const http = /^HTTP (\d+): \w+ (\S+)$/.exec(line);
        if (http) return !allowed.some((a) => http[2]!.includes(a.pathPart) && Number(http[1]) === a.status);
        // Chromium's own line for the same answer ("Failed to load resource: ... status of 401").
        const resource = /^console error: Failed to load resource: the server responded with a status of (\d+) .* @ (\S+)$/.exec(line);
        if (resource) return !allowed.some((a) => resource[2]!.includes(a.pathPart) && Number(resource[1]) === a.status);
        return true;
      }),
  };
}

/** Where `BOREALIS_CONSOLE_DOC_SCREENSHOTS=1` also puts them, for docs/console.md (committed). */
export const DOC_SCREENSHOTS = join(REPO_ROOT, 'docs', 'console');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

let axeSource: string | null = null;

/**
 * axe-core's WCAG 2.x A and AA rules on the page as it is (labels, names, contrast, ARIA, landmarks
 * and headings). Evaluated through the DevTools protocol, which the page's CSP does not govern; the
 * console's own code stays under it.
 */
export async function accessibilityViolations(page: Page): Promise<string[]> {
  axeSource ??= readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  if (!(await page.evaluate<boolean>('typeof window.axe === "object"'))) await page.evaluate<unknown>(axeSource);
  const violations = await page.evaluate<AxeViolation[]>(
    "window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) })))",
  );
  return violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/** A screenshot of the page, after checking it with axe: a page that fails WCAG A/AA fails the test. */
export async function screenshot(page: Page, name: string): Promise<void> {
  const violations = await accessibilityViolations(page);
  if (violations.length > 0) throw new Error(`accessibility violations on ${name}:\n${violations.join('\n')}`);
  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  if (process.env['BOREALIS_CONSOLE_DOC_SCREENSHOTS'] === '1') {
    mkdirSync(DOC_SCREENSHOTS, { recursive: true });
    copyFileSync(file, join(DOC_SCREENSHOTS, `${name.replace(/^\d+[a-z]?-/, '')}.png`));
  }
}
