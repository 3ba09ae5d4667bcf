import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { expectEventually, freePort, startCli, type JsonLineProcess } from '@borealis/testing';
import { launchChromium, requireBuiltConsole, requireChromium, screenshot, watch, type Problems } from './browser';

jest.setTimeout(300_000);

/**
 * The developer console (issue 17) in headless Chromium against a real standalone server that
 * serves the built application at `/` with its CSP: a developer signs up, creates an organization,
 * a project, a key (downloading the settings file) and an application, starts a simulated device,
 * sends it a test push from the console and sees it delivered and counted; a viewer is invited and
 * finds what they may and may not do; the session ends visibly; the operator signs in with the
 * admin token. No console error, page error or CSP violation is allowed on the way.
 */
describe('the console in a browser', () => {
  const work = mkdtempSync(join(tmpdir(), 'borealis-console-'));
  chmodSync(work, 0o755);
  const dataDir = join(work, 'data');
  let server: JsonLineProcess;
  let httpUrl: string;
  let deviceUrl: string;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const devices: JsonLineProcess[] = [];
  const problems: Problems[] = [];

  const owner = { email: 'owner@example.com', password: 'correct horse battery' };
  const viewer = { email: 'viewer@example.com', password: 'viewer password 1' };
  let tenantId = '';
  let projectId = '';
  let applicationId = '';
  let messageId = '';
  let invitationLink = '';

  async function newPage(): Promise<{ page: Page; problems: Problems }> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true, baseURL: httpUrl });
    contexts.push(context);
    const watched = await watch(context);
    problems.push(watched);
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    return { page, problems: watched };
  }

  beforeAll(async () => {
    requireChromium();
    requireBuiltConsole();
    const [httpPort, devicePort] = [await freePort(), await freePort()];
    server = startCli(['serve'], { BOREALIS_HTTP_PORT: String(httpPort), BOREALIS_DEVICE_PORT: String(devicePort), BOREALIS_DATA_DIR: dataDir }, 'server');
    const ready = await server.waitFor((l) => l['event'] === 'ready', 90_000, 'ready');
    httpUrl = String(ready['http']).replace(/\/$/, '');
    deviceUrl = String(ready['device']);
    browser = await launchChromium();
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await Promise.all(devices.map((d) => d.stop()));
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  let ownerPage: Page;
  let ownerProblems: Problems;

  it('serves the console at / with a strict CSP, and its assets load with it in force', async () => {
    const index = await fetch(`${httpUrl}/`);
    expect(index.status).toBe(200);
    const csp = index.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    const html = await index.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect(html).not.toMatch(/<style/);
    // A client-side route answers the same document.
    const deep = await fetch(`${httpUrl}/invitations/accept?token=x`);
    expect(deep.status).toBe(200);
    expect(deep.headers.get('content-security-policy')).toBe(csp);

    ({ page: ownerPage, problems: ownerProblems } = await newPage());
    // The session probe of a visitor without a cookie is a 401, by the contract.
    ownerProblems.expectStatus('/auth/admin/v1/console/session', 401);
    await ownerPage.goto('/');
    await ownerPage.getByRole('tab', { name: 'Sign in' }).waitFor();
    await ownerPage.getByRole('button', { name: 'Sign in' }).click();
    // Validated before sending: nothing goes to the server for an empty form.
    await ownerPage.getByText('Enter an e-mail address.').waitFor();
    await screenshot(ownerPage, '01-sign-in');
    // Mantine's stylesheet applied (style-src 'self' let it in): the button is Mantine's blue.
    const background = await ownerPage.evaluate<string>("getComputedStyle(document.querySelector('button[type=submit]')).backgroundColor");
    expect(background).toBe('rgb(25, 113, 194)'); // blue 8: the console's contrast override applied too
    expect(ownerProblems.unexpected()).toEqual([]);
  });

  it('signs up, creates an organization and a project', async () => {
    const page = ownerPage;
    await page.getByRole('tab', { name: 'Create account' }).click();
    await page.getByLabel('E-mail').fill(owner.email);
    await page.getByRole('textbox', { name: 'Password', exact: true }).fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('At least 12 characters.').first().waitFor();
    await page.getByRole('textbox', { name: 'Password', exact: true }).fill(owner.password);
    await page.getByLabel('Repeat the password').fill(owner.password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Organizations', level: 1 }).waitFor();
    await page.getByText('No organization yet').waitFor();
    await expect(page.getByTestId('signed-in-as').textContent()).resolves.toBe(owner.email);

    await page.getByLabel('Name').fill('Acme');
    await page.getByRole('button', { name: 'Create organization' }).click();
    await page.getByRole('heading', { name: 'Acme', level: 1 }).waitFor();
    tenantId = decodeURIComponent(new URL(page.url()).pathname.split('/')[2]!);
    await page.getByText('No project yet.').waitFor();

    await page.getByLabel('Project name').fill('Shop');
    await page.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('heading', { name: 'Project Shop', level: 1 }).waitFor();
    projectId = decodeURIComponent(new URL(page.url()).pathname.split('/')[2]!);
    await expect(page.getByTestId('project-state').textContent()).resolves.toBe('active');
    await screenshot(page, '03-project');

    // Deactivate and activate again.
    await page.getByRole('button', { name: 'Deactivate project' }).click();
    await page.getByRole('button', { name: 'Activate project', exact: true }).waitFor();
    await expect(page.getByTestId('project-state').textContent()).resolves.toBe('inactive');
    await page.getByRole('button', { name: 'Activate project', exact: true }).click();
    await page.getByRole('button', { name: 'Deactivate project' }).waitFor();

    await page.getByRole('link', { name: 'Organization', exact: true }).click();
    await page.getByRole('link', { name: 'Shop' }).waitFor();
    await screenshot(page, '02-organization');
    expect(ownerProblems.unexpected()).toEqual([]);
  });

  it('creates a key and downloads the settings file once, then creates an application', async () => {
    const page = ownerPage;
    await page.goto(`/projects/${projectId}?tab=keys`);
    await page.getByText('No key yet').waitFor();
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByTestId('key-issued').waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download push_notification_system.yaml' }).click()]);
    expect(download.suggestedFilename()).toBe('push_notification_system.yaml');
    const file = join(work, 'push_notification_system.yaml');
    await download.saveAs(file);
    const settings = parse(readFileSync(file, 'utf8')) as { push_notification_system: Record<string, string> };
    const s = settings.push_notification_system;
    expect(s['project_id']).toBe(projectId);
    expect(s['private_key']).toContain('-----BEGIN PRIVATE KEY-----');
    expect(s['token_url']).toContain('/auth/public/oauth2/token');
    await screenshot(page, '04-keys');
    await page.getByRole('button', { name: 'Done' }).click();
    // Offered exactly once: the private key is gone from the page, the key stays listed.
    await expect(page.getByRole('button', { name: 'Download push_notification_system.yaml' }).count()).resolves.toBe(0);
    await page.getByRole('cell', { name: s['key_id'], exact: true }).waitFor();
    expect(await page.content()).not.toContain('BEGIN PRIVATE KEY');

    // A second key: closed without downloading, given an expiry, then revoked.
    await page.getByRole('button', { name: 'Create key' }).click();
    const issuedTitle = (await page.getByTestId('key-issued').getByText(/^Key .* created$/).textContent()) ?? '';
    const secondKey = issuedTitle.replace(/^Key (.*) created$/, '$1');
    expect(secondKey).not.toBe(s['key_id']);
    await page.getByRole('button', { name: 'Close without downloading' }).click();
    const secondRow = page.getByRole('row', { name: new RegExp(secondKey.replace(/[-]/g, '\\-')) });
    await secondRow.getByText('active').waitFor();
    await page.getByLabel('Key', { exact: true }).selectOption(secondKey);
    await page.getByLabel('Expires at (your local time)').fill('2035-01-31T09:00');
    await page.getByRole('button', { name: 'Set expiry' }).click();
    await secondRow.getByText('expiring').waitFor();
    await secondRow.getByRole('button', { name: 'Revoke' }).click();
    await secondRow.getByText('revoked').waitFor();
    // The first key is untouched.
    await page.getByRole('row', { name: new RegExp(s['key_id']!.replace(/[-]/g, '\\-')) }).getByText('active').waitFor();

    await page.getByRole('tab', { name: 'Applications' }).click();
    await page.getByText('No application yet.').waitFor();
    await page.getByRole('button', { name: 'Create application' }).click();
    await page.getByText('Enter the application’s name.').waitFor();
    await page.getByLabel('Application name').fill('Demo app');
    await page.getByRole('button', { name: 'Create application' }).click();
    applicationId = ((await page.getByTestId('application-id').first().textContent()) ?? '').trim();
    expect(applicationId).toMatch(/^app_/);
    expect(ownerProblems.unexpected()).toEqual([]);
  });

  it('sends a test push to a simulated device and sees it delivered and counted', async () => {
    const page = ownerPage;
    const device = startCli(['device', '--server', deviceUrl, '--app', applicationId, '--state', join(work, 'device')], {}, 'device');
    devices.push(device);
    const registrationId = String((await device.waitFor((l) => l['event'] === 'registrationId', 30_000, 'registrationId'))['registrationId']);

    // The application's registration count includes the device.
    await expectEventually(
      async () => {
        await page.getByRole('button', { name: 'Refresh' }).click();
        await expect(page.getByTestId('registrations').first().textContent({ timeout: 2_000 })).resolves.toBe('1');
      },
      { timeoutMs: 15_000, intervalMs: 500 },
    );
    await screenshot(page, '05-applications');

    await page.getByRole('tab', { name: 'Test send' }).click();
    await page.getByLabel('Registration id').fill(registrationId);
    await page.getByRole('textbox', { name: 'Title', exact: true }).fill('Hello from the console');
    await page.getByRole('textbox', { name: 'Message', exact: true }).fill('It works');
    // The JSON editor refuses what is not a JSON object, before sending.
    await page.getByLabel('Data (a JSON object, optional)').fill('[1, 2');
    await page.getByLabel('Time to live').fill('1 day');
    await page.getByRole('button', { name: 'Send push' }).click();
    await page.getByText(/Not valid JSON/).first().waitFor();
    await page.getByText(/A duration like 5h30m/).waitFor();
    await page.getByLabel('Data (a JSON object, optional)').fill('{"order": 42}');
    await page.getByLabel('Time to live').fill('1h');
    await page.getByRole('button', { name: 'Send push' }).click();
    await page.getByTestId('send-result').waitFor();
    const state = page.getByTestId('send-result').getByTestId('message-state');
    await expectEventually(async () => expect(await state.textContent()).toBe('delivered'), { timeoutMs: 30_000, intervalMs: 250 });
    messageId = ((await page.getByTestId('send-result').locator('h2 .mono').textContent()) ?? '').trim();
    const pushed = await device.waitFor((l) => l['event'] === 'notifications' && (l['pushList'] as { id: string }[]).some((p) => p.id === messageId), 15_000, 'the push');
    const push = (pushed['pushList'] as { id: string; title: string; message: string; data: string }[]).find((p) => p.id === messageId)!;
    expect(push).toMatchObject({ title: 'Hello from the console', message: 'It works' });
    expect(JSON.parse(push.data)).toEqual({ order: 42 });
    await screenshot(page, '06-test-send');

    // The downloaded settings file works: the CLI gets a token with it and reads the same status.
    const cli = startCli(['status', '--settings', join(work, 'push_notification_system.yaml'), messageId], {}, 'status');
    expect(await cli.exited).toBe(0);
    expect(cli.lines[cli.lines.length - 1]).toMatchObject({ id: messageId, projectId, state: 'delivered' });

    // What only the server refuses is shown with its problem details: a send while the project is inactive.
    await page.getByRole('tab', { name: 'Overview' }).click();
    await page.getByRole('button', { name: 'Deactivate project' }).click();
    await page.getByRole('button', { name: 'Activate project', exact: true }).waitFor();
    await page.getByRole('tab', { name: 'Test send' }).click();
    await page.getByLabel('Registration id').fill(registrationId);
    ownerProblems.expectStatus(`/auth/admin/v1/projects/${projectId}/messages`, 403);
    await page.getByRole('button', { name: 'Send push' }).click();
    const refusal = page.getByTestId('problem');
    await refusal.waitFor();
    expect(await refusal.textContent()).toMatch(/HTTP 4\d\d, code \w+/);
    await screenshot(page, '06b-test-send-refused');
    await page.getByRole('tab', { name: 'Overview' }).click();
    await page.getByRole('button', { name: 'Activate project', exact: true }).click();
    await page.getByRole('button', { name: 'Deactivate project' }).waitFor();

    // Recent messages and the lookup by id show it, with the recipient's state.
    await page.getByRole('tab', { name: 'Messages' }).click();
    await page.getByRole('link', { name: messageId }).waitFor();
    await screenshot(page, '07-messages');
    await page.getByLabel('Message id').fill(messageId);
    await page.getByRole('button', { name: 'Look up' }).click();
    await page.getByRole('table', { name: 'Recipients' }).getByRole('cell', { name: registrationId }).waitFor();
    await expect(page.getByTestId('message-state').textContent()).resolves.toBe('delivered');
    await screenshot(page, '08-message');

    // Counted in today's statistics, in the table beside the chart.
    await page.goto(`/projects/${projectId}?tab=stats`);
    const today = new Date().toISOString().slice(0, 10);
    const row = page.getByTestId('stats-table').locator(`tr[data-date="${today}"]`);
    await expectEventually(
      async () => {
        expect(Number(await row.locator('td[data-series="accepted"]').textContent())).toBeGreaterThanOrEqual(1);
        expect(Number(await row.locator('td[data-series="delivered"]').textContent())).toBeGreaterThanOrEqual(1);
      },
      { timeoutMs: 10_000, intervalMs: 500 },
    );
    // The chart drew a bar for it.
    await expect(page.getByTestId('stats-chart').locator('.recharts-bar-rectangle path').count()).resolves.toBeGreaterThanOrEqual(2);
    await screenshot(page, '09-statistics');
    // A date range the form refuses before asking.
    await page.getByLabel('From (UTC day)').fill('2030-01-01');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByText('The first day must not be after the last.').waitFor();
    expect(ownerProblems.unexpected()).toEqual([]);
  });

  it('invites a viewer, who can read but not change or send', async () => {
    const page = ownerPage;
    await page.goto(`/organizations/${tenantId}?tab=invitations`);
    await page.getByLabel('E-mail').fill(viewer.email);
    await page.getByLabel('Role').selectOption('viewer');
    await page.getByRole('button', { name: 'Invite' }).click();
    invitationLink = ((await page.getByTestId('invitation-link').textContent()) ?? '').trim();
    expect(invitationLink).toMatch(/\/invitations\/accept\?token=/);
    await page.getByRole('table', { name: 'Invitations' }).getByText('pending').waitFor();
    await screenshot(page, '10-invitations');

    const { page: v, problems: vp } = await newPage();
    vp.expectStatus('/auth/admin/v1/console/session', 401);
    await v.goto(invitationLink);
    await v.getByTestId('invitation-note').waitFor();
    await v.getByLabel('E-mail').fill(viewer.email);
    await v.getByRole('textbox', { name: 'Password', exact: true }).fill(viewer.password);
    await v.getByLabel('Repeat the password').fill(viewer.password);
    await v.getByRole('button', { name: 'Create account' }).click();
    await v.getByRole('heading', { name: 'Organizations', level: 1 }).waitFor();
    await v.getByRole('row', { name: /Acme/ }).getByText('viewer').waitFor();

    // Can read: the project, its keys, applications, statistics and messages.
    await v.goto(`/projects/${projectId}?tab=messages`);
    await v.getByRole('link', { name: messageId }).waitFor();
    await v.getByText('your role: viewer').waitFor();
    await v.getByRole('tab', { name: 'Keys' }).click();
    await v.getByRole('table', { name: 'Keys' }).waitFor();
    await v.getByText('Your role (viewer) cannot create, expire or revoke keys').waitFor();
    await expect(v.getByRole('button', { name: 'Create key' }).count()).resolves.toBe(0);
    await v.getByRole('tab', { name: 'Test send' }).click();
    await v.getByText('Your role (viewer) cannot send pushes').waitFor();
    await expect(v.getByRole('button', { name: 'Send push' }).count()).resolves.toBe(0);
    await v.getByRole('tab', { name: 'Overview' }).click();
    await expect(v.getByRole('button', { name: /activate project/i }).count()).resolves.toBe(0);
    await screenshot(v, '11-viewer');
    await v.goto(`/organizations/${tenantId}?tab=audit`);
    await v.getByText('Your role (viewer) cannot read the audit log').waitFor();

    // And the server refuses what the page does not offer, CSRF token or not.
    vp.expectStatus(`/auth/admin/v1/projects/${projectId}/applications`, 403);
    const refused = await v.evaluate(async (project) => {
      const session = (await (await fetch('/auth/admin/v1/console/session')).json()) as { csrfToken: string };
      const post = (headers: Record<string, string>) =>
        fetch(`/auth/admin/v1/projects/${project}/applications`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"name":"x"}' }).then(async (r) => ({
          status: r.status,
          body: (await r.json()) as { code: string; detail: string },
        }));
      return { withCsrf: await post({ 'x-csrf-token': session.csrfToken }), withoutCsrf: await post({}) };
    }, projectId);
    expect(refused.withCsrf).toMatchObject({ status: 403, body: { code: 'permission_denied' } });
    expect(refused.withoutCsrf).toMatchObject({ status: 403, body: { code: 'permission_denied' } });
    expect(refused.withoutCsrf.body.detail).toMatch(/CSRF/);

    // Signed in already, the invitee accepts an invitation from its link: the owner invites them
    // to a second organization as a developer.
    await page.goto('/');
    await page.getByLabel('Name').fill('Beta');
    await page.getByRole('button', { name: 'Create organization' }).click();
    await page.getByRole('heading', { name: 'Beta', level: 1 }).waitFor();
    await page.getByRole('tab', { name: 'Invitations' }).click();
    await page.getByLabel('E-mail').fill(viewer.email);
    await page.getByLabel('Role').selectOption('developer');
    await page.getByRole('button', { name: 'Invite' }).click();
    const second = ((await page.getByTestId('invitation-link').textContent()) ?? '').trim();
    await v.goto(second);
    await v.getByRole('heading', { name: 'Accept an invitation', level: 1 }).waitFor();
    await v.getByRole('button', { name: 'Accept the invitation' }).click();
    await v.getByText('You joined the organization as developer.').waitFor();
    await screenshot(v, '11b-invitation-accepted');
    await v.getByRole('link', { name: 'Open the organization' }).click();
    await v.getByRole('heading', { name: 'Beta', level: 1 }).waitFor();
    await v.getByText('your role: developer').waitFor();
    expect(vp.unexpected()).toEqual([]);

    // The owner sees the new member and can change the role.
    await page.goto(`/organizations/${tenantId}?tab=members`);
    await page.getByRole('cell', { name: viewer.email, exact: true }).waitFor();
    await screenshot(page, '12-members');

    // The audit log, filtered by action.
    await page.getByRole('tab', { name: 'Audit log' }).click();
    await page.getByRole('table', { name: 'Audit log' }).waitFor();
    await page.getByLabel('Action').selectOption('project.create');
    await page.getByRole('table', { name: 'Audit log' }).getByRole('cell', { name: 'project.create' }).waitFor();
    await expect(page.getByRole('table', { name: 'Audit log' }).getByRole('cell', { name: 'invitation.create' }).count()).resolves.toBe(0);
    await screenshot(page, '13-audit-log');
    expect(ownerProblems.unexpected()).toEqual([]);
  });

  it('shows a session that ended elsewhere as expired, and signs out', async () => {
    const { page, problems: p } = await newPage();
    p.expectStatus('/auth/admin/v1/console/session', 401);
    p.expectStatus(`/auth/admin/v1/tenants/${tenantId}`, 401);
    await page.goto('/');
    // By keyboard alone: Tab reaches the e-mail field past the tabs, then the password; Enter submits.
    await page.getByRole('tab', { name: 'Sign in' }).waitFor();
    const focusedLabel = () => page.evaluate<string>("document.activeElement?.labels?.[0]?.textContent ?? document.activeElement?.textContent ?? ''");
    for (let i = 0; i < 6 && !(await focusedLabel()).startsWith('E-mail'); i++) await page.keyboard.press('Tab');
    expect(await focusedLabel()).toMatch(/^E-mail/);
    await page.keyboard.type(viewer.email);
    await page.keyboard.press('Tab');
    expect(await focusedLabel()).toMatch(/^Password/);
    await page.keyboard.type(viewer.password);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Organizations', level: 1 }).waitFor();
    // The page's heading has the focus (announced by a screen reader); the skip link is the first
    // thing to tab to in the page.
    expect(await page.evaluate<string>('document.activeElement?.tagName')).toBe('H1');
    expect(await page.evaluate<string>("document.querySelector('a[href], button, input, select, textarea').textContent")).toBe('Skip to content');
    // The session ends behind the page's back (as at its expiry): its next call tells it.
    await page.evaluate(async () => {
      const session = (await (await fetch('/auth/admin/v1/console/session')).json()) as { csrfToken: string };
      await fetch('/auth/admin/v1/console/session', { method: 'DELETE', headers: { 'x-csrf-token': session.csrfToken } });
    });
    await page.getByRole('link', { name: 'Acme' }).click();
    await page.getByTestId('session-expired').waitFor();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await screenshot(page, '14-session-expired');
    expect(p.unexpected()).toEqual([]);

    // The owner signs out: the cookie is gone, a reload shows the sign-in page.
    ownerProblems.expectStatus('/auth/admin/v1/console/session', 401);
    await ownerPage.getByRole('button', { name: 'Sign out' }).click();
    await ownerPage.getByText('You have signed out.').waitFor();
    await ownerPage.reload();
    await ownerPage.getByRole('button', { name: 'Sign in' }).waitFor();
    const cookies = await ownerPage.context().cookies();
    expect(cookies.filter((c) => c.name === 'borealis_session')).toEqual([]);
    expect(ownerProblems.unexpected()).toEqual([]);
  });

  it('lets the operator in with the admin token: tenants, health, metrics, signing-key rotation', async () => {
    const adminToken = String((JSON.parse(readFileSync(join(dataDir, 'secrets.json'), 'utf8')) as { adminToken: string }).adminToken);
    const { page, problems: p } = await newPage();
    p.expectStatus('/auth/admin/v1/console/session', 401);
    p.expectStatus('/auth/admin/v1/console/operator-session', 401);
    await page.goto('/');
    await page.getByRole('tab', { name: 'Operator' }).click();
    await page.getByLabel('Admin token').fill('not-the-token-at-all-not-the-token');
    await page.getByRole('button', { name: 'Sign in as operator' }).click();
    await page.getByText('Could not sign in as the operator').waitFor();
    await page.getByLabel('Admin token').fill(adminToken);
    await page.getByRole('button', { name: 'Sign in as operator' }).click();
    await page.getByRole('heading', { name: 'Operator', level: 1 }).waitFor();
    await page.getByRole('table', { name: 'Service health' }).getByText('up').first().waitFor();
    await page.getByRole('list', { name: 'Key figures' }).waitFor();
    await page.getByRole('table', { name: 'Signing keys' }).waitFor();
    await page.getByRole('button', { name: 'Rotate the signing key' }).click();
    const kid = ((await page.getByTestId('rotated-kid').textContent()) ?? '').trim();
    expect(kid.length).toBeGreaterThan(0);
    // The JWKS serves the new key beside the previous one.
    await page.getByRole('table', { name: 'Signing keys' }).getByRole('cell', { name: kid }).waitFor();
    await screenshot(page, '15-operator');
    await page.getByRole('link', { name: 'Tenants' }).click();
    await page.getByRole('link', { name: 'Acme' }).waitFor();
    await screenshot(page, '16-operator-tenants');
    expect(p.unexpected()).toEqual([]);
  });

  it('met no console error, page error or CSP violation in any page', () => {
    const all = problems.flatMap((p) => p.unexpected());
    expect(all).toEqual([]);
    expect(problems.flatMap((p) => p.all).filter((line) => /Content Security Policy|CSP violation/i.test(line))).toEqual([]);
  });
});
