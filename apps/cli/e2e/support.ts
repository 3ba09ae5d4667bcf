import { connect, type Socket } from 'node:net';
import { decodeFrame, encodeFramePrefixed, FrameSplitter, PROTOCOL_VERSION, type Frame } from '@borealis/contracts';
import { loadProjectSettings, PushServerClient } from '@borealis/server-sdk';
import { expectEventually, freePort, runCli, startCli, type JsonLineProcess } from '@borealis/testing';

/** A standalone server (`borealis serve`) on free ports with its data in `dataDir`, once it is ready. */
export async function startStandalone(dataDir: string): Promise<{ server: JsonLineProcess; httpUrl: string; deviceUrl: string }> {
  const [httpPort, devicePort] = [await freePort(), await freePort()];
  const server = startCli(['serve'], { BOREALIS_HTTP_PORT: String(httpPort), BOREALIS_DEVICE_PORT: String(devicePort), BOREALIS_DATA_DIR: dataDir }, 'server');
  const ready = await server.waitFor((l) => l['event'] === 'ready', 60_000, 'ready');
  return { server, httpUrl: String(ready['http']), deviceUrl: String(ready['device']) };
}

/** What the walkthrough needs to know about a running installation. */
export interface Installation {
  /** Base URL of the public HTTP API (auth and gateway). */
  httpUrl: string;
  /** tcp://host:port of a transport. */
  deviceUrl: string;
  /** Environment for `borealis admin` (how it finds the admin token). */
  adminEnv: Record<string, string>;
}

export interface Project {
  projectId: string;
  applicationId: string;
  settingsFile: string;
}

export async function quickstart(installation: Installation, outDir: string, name = 'e2e'): Promise<Project> {
  const out = await runCli(['admin', 'quickstart', '--out', outDir, '--server', installation.httpUrl, '--name', name], installation.adminEnv);
  return { projectId: String(out['project_id']), applicationId: String(out['application_id']), settingsFile: String(out['settings']) };
}

export function startDevice(deviceUrl: string, applicationId: string, stateDir: string, extra: string[] = []): JsonLineProcess {
  return startCli(['device', '--server', deviceUrl, '--app', applicationId, '--state', stateDir, ...extra], {}, 'device');
}

export async function registrationIdOf(device: JsonLineProcess, after = 0): Promise<string> {
  const line = await device.waitFor((l) => l['event'] === 'registrationId' && device.lines.indexOf(l) >= after, 30_000, 'registrationId');
  return String(line['registrationId']);
}

/** Sends with the CLI and waits until the device printed the push; returns the message id. */
export async function sendAndReceive(project: Project, device: JsonLineProcess, registrationId: string, title: string): Promise<string> {
  const sent = await runCli(['send', '--settings', project.settingsFile, '--target', registrationId, '--title', title, '--message', 'hello', '--data', '{"k":[1,2]}', '--ttl', '1h']);
  const id = String(sent['id']);
  const line = await device.waitFor((l) => l['event'] === 'notifications' && (l['pushList'] as { id: string }[]).some((p) => p.id === id), 30_000, `push ${id}`);
  const push = (line['pushList'] as { id: string; title: string; message: string; data: string }[]).find((p) => p.id === id)!;
  expect(push).toMatchObject({ title, message: 'hello' });
  expect(JSON.parse(push.data)).toEqual({ k: [1, 2] });
  return id;
}

export async function expectDelivered(project: Project, messageId: string): Promise<void> {
  await expectEventually(
    async () => {
      const status = await runCli(['status', '--settings', project.settingsFile, messageId]);
      expect(status).toMatchObject({ id: messageId, projectId: project.projectId, state: 'delivered' });
      expect((status['counts'] as Record<string, number>)['delivered']).toBe(1);
      return status;
    },
    { timeoutMs: 20_000, intervalMs: 300 },
  );
}

export function client(project: Project): PushServerClient {
  return new PushServerClient(loadProjectSettings(project.settingsFile));
}

/** Raw HTTP for the hostile-input checks: returns status, headers and the parsed body. */
export async function http(url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: response.status, headers: response.headers, body };
}

/**
 * Bad input on every entry point of the flow gets a precise error and the installation keeps
 * serving: malformed JSON, missing or forged token, a token for another project, oversize
 * title/message, a malformed protocol frame.
 */
export async function checkHostileInput(installation: Installation, a: Project, b: Project): Promise<void> {
  const api = `${installation.httpUrl}/push/public/api/v1/projects`;
  const tokenA = await client(a).getAccessToken();
  const tokenB = await client(b).getAccessToken();
  const json = (token: string | null, body: string) => ({
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body,
  });
  const valid = (registrationId: string, title = 't', message = 'm') => JSON.stringify({ target: registrationId, type: 'device', ttl: '1h', notification: { title, message } });

  const malformed = await http(`${api}/${a.projectId}/messages`, json(tokenA, '{"target": '));
  expect(malformed.status).toBe(400);
  expect(malformed.headers.get('content-type')).toContain('application/problem+json');
  expect(malformed.body['code']).toBe('malformed_body');

  const missing = await http(`${api}/${a.projectId}/messages`, json(null, valid('r')));
  expect(missing.status).toBe(401);
  expect(missing.body['code']).toBe('unauthenticated');

  const [header, payload] = tokenA.split('.');
  const forgedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), project_id: b.projectId })).toString('base64url');
  const forged = await http(`${api}/${b.projectId}/messages`, json(`${header}.${forgedPayload}.${tokenA.split('.')[2]}`, valid('r')));
  expect(forged.status).toBe(401);
  expect(forged.body['code']).toBe('unauthenticated');

  const otherProject = await http(`${api}/${a.projectId}/messages`, json(tokenB, valid('r')));
  expect(otherProject.status).toBe(403);
  expect(otherProject.body['code']).toBe('permission_denied');
  const otherProjectRead = await http(`${api}/${a.projectId}`, { headers: { authorization: `Bearer ${tokenB}` } });
  expect(otherProjectRead.status).toBe(403);

  const longTitle = await http(`${api}/${a.projectId}/messages`, json(tokenA, valid('r', 'x'.repeat(513))));
  expect(longTitle.status).toBe(400);
  expect(longTitle.body['code']).toBe('invalid_argument');
  expect(JSON.stringify(longTitle.body)).toContain('title');
  const longMessage = await http(`${api}/${a.projectId}/messages`, json(tokenA, valid('r', 't', 'y'.repeat(2049))));
  expect(longMessage.status).toBe(400);
  expect(JSON.stringify(longMessage.body)).toContain('message');

  const badToken = await http(`${installation.httpUrl}/auth/public/oauth2/token`, json(null, '{"grant_type":"client_credentials","client_assertion":"x.y.z"}'));
  expect(badToken.status).toBeGreaterThanOrEqual(400);
  expect(badToken.status).toBeLessThan(500);
  expect(typeof badToken.body['error']).toBe('string');

  // A malformed frame: an Error frame, then the connection closes; a second device still works.
  const frames = await rawSession(installation.deviceUrl, Buffer.from([0x05, 0xff, 0xff, 0xff, 0xff, 0xff]));
  expect(frames.map((f) => f.kind)).toEqual(['error']);
  const hello = await rawSession(installation.deviceUrl, encodeFramePrefixed({ hello: { protocolVersion: PROTOCOL_VERSION } }), 'welcome');
  expect(hello[0]?.kind).toBe('welcome');

  const health = await http(`${installation.httpUrl.replace(/\/$/, '')}/healthz`);
  expect(health.status).toBe(200);
}

/** Writes bytes to a fresh device connection and collects frames until close (or `until`). */
function rawSession(deviceUrl: string, bytes: Buffer, until?: Frame['kind']): Promise<Frame[]> {
  const { hostname, port } = new URL(deviceUrl.replace(/^tcp:/, 'http:'));
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(Number(port), hostname);
    const splitter = new FrameSplitter();
    const frames: Frame[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close from the transport; frames so far: ${frames.map((f) => f.kind).join(',')}`));
    }, 10_000);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk) => {
      for (const body of splitter.push(chunk)) frames.push(decodeFrame(body));
      if (until && frames.some((f) => f.kind === until)) socket.end();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(frames);
    });
  });
}

/**
 * Cancel (issue 16, point 3), through the CLI: a push to an offline device is cancelled; the device
 * then connects and never gets it, while a push sent after it arrives; the status and the daily
 * counters say cancelled; cancelling again changes nothing; a delivered message is unaffected;
 * another project can neither cancel nor see it. Returns the (running) device.
 */
export async function checkCancel(installation: Installation, project: Project, other: Project, stateDir: string): Promise<JsonLineProcess> {
  const first = startDevice(installation.deviceUrl, project.applicationId, stateDir);
  const registrationId = await registrationIdOf(first);
  await first.stop();
  const sent = await runCli(['send', '--settings', project.settingsFile, '--target', registrationId, '--title', 'to be cancelled', '--ttl', '1h']);
  const messageId = String(sent['id']);

  const api = `${installation.httpUrl}/push/public/api/v1/projects`;
  const tokenB = await client(other).getAccessToken();
  const asB = { method: 'DELETE', headers: { authorization: `Bearer ${tokenB}` } };
  expect((await http(`${api}/${project.projectId}/messages/${messageId}`, asB)).status).toBe(403);
  const foreign = await http(`${api}/${other.projectId}/messages/${messageId}`, asB);
  expect(foreign.status).toBe(404);
  expect(foreign.body['code']).toBe('not_found');
  expect(JSON.stringify(foreign.body)).not.toContain(registrationId);
  expect((await http(`${api}/${other.projectId}/messages/not-a-message-id`, asB)).status).toBe(404);
  expect((await http(`${api}/${project.projectId}/messages/${messageId}`, { method: 'DELETE' })).status).toBe(401);

  // Accepted is not necessarily stored yet (distributed): the cancel needs push-core to know it.
  const cancelled = await expectEventually(() => runCli(['cancel', '--settings', project.settingsFile, messageId]), { timeoutMs: 10_000, intervalMs: 200 });
  expect(cancelled).toMatchObject({ applied: true, id: messageId, state: 'cancelled', counts: { pending: 0, cancelled: 1 } });
  expect(typeof cancelled['cancelledAt']).toBe('string');
  const again = await runCli(['cancel', '--settings', project.settingsFile, messageId]);
  expect(again).toMatchObject({ applied: true, state: 'cancelled', cancelledAt: cancelled['cancelledAt'], counts: { cancelled: 1 } });

  const device = startDevice(installation.deviceUrl, project.applicationId, stateDir);
  expect(await registrationIdOf(device)).toBe(registrationId);
  const later = await sendAndReceive(project, device, registrationId, 'after the cancel');
  await expectDelivered(project, later);
  // The reconnect flush and the later push travel separately: give a stray delivery time to show.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const received = device.lines.flatMap((l) => (l['event'] === 'notifications' ? (l['pushList'] as { id: string }[]).map((p) => p.id) : []));
  expect(received).toContain(later);
  expect(received).not.toContain(messageId);

  // Delivered recipients are unaffected.
  const delivered = await runCli(['cancel', '--settings', project.settingsFile, later]);
  expect(delivered).toMatchObject({ applied: true, state: 'delivered', cancelledAt: null, counts: { delivered: 1, cancelled: 0 } });

  const today = new Date().toISOString().slice(0, 10);
  const stats = await client(project).getStats({ from: today, to: today });
  expect(stats.days[0]!.cancelled).toBeGreaterThanOrEqual(1);
  return device;
}

/**
 * Registration management (issue 16, point 6), through the CLI and the SDK: show (application,
 * online now, topics), its topics, delete (no further deliveries; the device gets a new id at its
 * next registrate); another project gets 404 and learns nothing; a malformed id is a 400 naming
 * it. Returns the (running) device.
 */
export async function checkRegistrations(installation: Installation, project: Project, other: Project, stateDir: string): Promise<JsonLineProcess> {
  const first = startDevice(installation.deviceUrl, project.applicationId, stateDir);
  const registrationId = await registrationIdOf(first);
  await client(project).setTopicSubscription(registrationId, 'e2e.news', true);
  const shown = await expectEventually(
    async () => {
      const registration = await runCli(['registration', 'show', '--settings', project.settingsFile, registrationId]);
      expect(registration).toMatchObject({ registrationId, projectId: project.projectId, applicationId: project.applicationId, online: true, unregisteredAt: null, topics: ['e2e.news'] });
      return registration;
    },
    { timeoutMs: 15_000, intervalMs: 300 },
  );
  expect(Date.parse(String(shown['createdAt']))).toBeLessThanOrEqual(Date.parse(String(shown['lastSeenAt'])));
  const topics = await runCli(['registration', 'topics', '--settings', project.settingsFile, registrationId]);
  expect(topics).toMatchObject({ registrationId, topics: [{ topic: 'e2e.news', subscribedAt: expect.any(String) }] });

  const api = `${installation.httpUrl}/push/public/api/v1/projects`;
  const tokenB = await client(other).getAccessToken();
  for (const [method, path] of [
    ['GET', ''],
    ['GET', '/topics'],
    ['DELETE', ''],
  ]) {
    const foreign = await http(`${api}/${other.projectId}/registrations/${registrationId}${path}`, { method, headers: { authorization: `Bearer ${tokenB}` } });
    expect(foreign.status).toBe(404);
    expect(JSON.stringify(foreign.body)).not.toContain(project.applicationId);
    expect((await http(`${api}/${project.projectId}/registrations/${registrationId}${path}`, { method, headers: { authorization: `Bearer ${tokenB}` } })).status).toBe(403);
  }
  const malformed = await http(`${api}/${other.projectId}/registrations/${'r'.repeat(200)}`, { headers: { authorization: `Bearer ${tokenB}` } });
  expect(malformed.status).toBe(400);
  expect(malformed.body['errors']).toEqual({ registrationId: expect.any(String) });

  const deleted = await runCli(['registration', 'delete', '--settings', project.settingsFile, registrationId]);
  expect(deleted).toMatchObject({ applied: true, registrationId, unregisteredAt: expect.any(String), online: false });
  expect(await runCli(['registration', 'delete', '--settings', project.settingsFile, registrationId])).toMatchObject({ applied: true, unregisteredAt: deleted['unregisteredAt'] });

  // No further deliveries: a push to it fails, and the device (still connected) gets nothing.
  const sent = await runCli(['send', '--settings', project.settingsFile, '--target', registrationId, '--title', 'after unregister']);
  await expectEventually(async () => expect(await runCli(['status', '--settings', project.settingsFile, String(sent['id'])])).toMatchObject({ state: 'failed', recipients: [] }), {
    timeoutMs: 15_000,
    intervalMs: 300,
  });
  expect(first.lines.some((l) => l['event'] === 'notifications' && (l['pushList'] as { id: string }[]).some((p) => p.id === sent['id']))).toBe(false);
  await first.stop();

  // Its next registrate gets a new registration, which works.
  const device = startDevice(installation.deviceUrl, project.applicationId, stateDir);
  const renewed = await registrationIdOf(device);
  expect(renewed).not.toBe(registrationId);
  await sendAndReceive(project, device, renewed, 'new registration');
  return device;
}

/**
 * Message listing (issue 16, point 7), through the SDK: a project's messages newest first, page by
 * page with the cursor, filtered by state and since; another project sees none of them; hostile
 * parameters get a 400 naming each.
 */
export async function checkListing(installation: Installation, project: Project, other: Project): Promise<void> {
  const since = new Date(Date.now() - 1000).toISOString();
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push(String((await runCli(['send', '--settings', project.settingsFile, '--target', `nobody-${i}`, '--title', `listed ${i}`]))['id']));
  const api = client(project);
  const newestFirst = [...ids].reverse();
  await expectEventually(async () => expect((await api.listMessages({ since, state: 'failed' })).messages.map((m) => m.id)).toEqual(newestFirst), { timeoutMs: 15_000, intervalMs: 300 });

  const paged: string[] = [];
  let cursor: string | null = null;
  do {
    const page: Awaited<ReturnType<typeof api.listMessages>> = await api.listMessages({ since, limit: 2, ...(cursor === null ? {} : { cursor }) });
    paged.push(...page.messages.map((m) => m.id));
    cursor = page.nextCursor;
  } while (cursor !== null);
  expect(paged.filter((id) => ids.includes(id))).toEqual(newestFirst);
  expect((await api.listMessages({ since, state: 'delivered' })).messages.filter((m) => ids.includes(m.id))).toEqual([]);

  const foreign = await client(other).listMessages({ limit: 100 });
  expect(foreign.messages.filter((m) => ids.includes(m.id) || m.projectId !== other.projectId)).toEqual([]);

  const url = `${installation.httpUrl}/push/public/api/v1/projects/${project.projectId}/messages`;
  const auth = { headers: { authorization: `Bearer ${await api.getAccessToken()}` } };
  const bad = await http(`${url}?state=lost&limit=101&cursor=abc&since=tomorrow`, auth);
  expect(bad.status).toBe(400);
  expect(bad.headers.get('content-type')).toContain('application/problem+json');
  expect(Object.keys(bad.body['errors'] as object).sort()).toEqual(['cursor', 'limit', 'since', 'state']);
  expect((await http(`${url}?limit=-5`, auth)).status).toBe(400);
}

/**
 * Multicast (issue 16, point 2), through `borealis send` with a list: two devices of the project
 * get the one message, a registration of another project and a malformed id are reported per
 * recipient, and the status lists the two recipients delivered.
 */
export async function checkMulticast(installation: Installation, project: Project, other: Project, workDir: string): Promise<JsonLineProcess[]> {
  const devices = [startDevice(installation.deviceUrl, project.applicationId, `${workDir}/multicast-1`), startDevice(installation.deviceUrl, project.applicationId, `${workDir}/multicast-2`)];
  const foreignDevice = startDevice(installation.deviceUrl, other.applicationId, `${workDir}/multicast-foreign`);
  const [r1, r2, foreign] = [await registrationIdOf(devices[0]!), await registrationIdOf(devices[1]!), await registrationIdOf(foreignDevice)];
  const sent = await runCli(['send', '--settings', project.settingsFile, '--target', [r1, r2, foreign, 'not valid!'].join(','), '--title', 'to many', '--ttl', '1h']);
  expect(sent['recipients']).toEqual([
    { registrationId: r1, status: 'accepted' },
    { registrationId: r2, status: 'accepted' },
    { registrationId: foreign, status: 'rejected', code: 'not_found', detail: expect.any(String) },
    { registrationId: 'not valid!', status: 'rejected', code: 'invalid_argument', detail: expect.any(String) },
  ]);
  const id = String(sent['id']);
  for (const device of devices) {
    await device.waitFor((l) => l['event'] === 'notifications' && (l['pushList'] as { id: string }[]).some((p) => p.id === id), 30_000, `multicast ${id}`);
  }
  await expectEventually(
    async () => {
      const status = await client(project).getMessageStatus(id);
      expect(status).toMatchObject({ state: 'delivered', target: { type: 'registrations', value: '2' }, counts: { delivered: 2 } });
      expect(status.recipients.map((r) => r.registrationId).sort()).toEqual([r1, r2].sort());
    },
    { timeoutMs: 20_000, intervalMs: 300 },
  );
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(foreignDevice.lines.some((l) => l['event'] === 'notifications' && (l['pushList'] as { id: string }[]).some((p) => p.id === id))).toBe(false);
  return [...devices, foreignDevice];
}

/**
 * `borealis send`'s flags beyond the basic ones (issue 16, point 8): an application-wide push with
 * a priority and a collapse key reaches the app's device; a retried send with the same
 * --idempotency-key is one message (to a device and to a topic alike); --send-at holds a push
 * until its time.
 */
export async function checkSendFlags(installation: Installation, project: Project, stateDir: string): Promise<JsonLineProcess> {
  const device = startDevice(installation.deviceUrl, project.applicationId, stateDir);
  const registrationId = await registrationIdOf(device);
  const settings = ['--settings', project.settingsFile];
  const shown = (id: string) => device.lines.filter((l) => l['event'] === 'notifications' && (l['pushList'] as { id: string }[]).some((p) => p.id === id)).length;

  const appWide = String((await runCli(['send', ...settings, '--type', 'application', '--target', project.applicationId, '--title', 'app-wide', '--priority', 'high', '--collapse-key', 'news', '--ttl', '1h']))['id']);
  await device.waitFor((l) => l['event'] === 'notifications' && (l['pushList'] as { id: string }[]).some((p) => p.id === appWide), 30_000, `application push ${appWide}`);
  expect(await client(project).getMessageStatus(appWide)).toMatchObject({ id: appWide, target: { type: 'application', value: project.applicationId } });

  const once = ['send', ...settings, '--target', registrationId, '--title', 'once', '--idempotency-key', `retry-${registrationId}`];
  const [first, retried] = [await runCli(once), await runCli(once)];
  expect(retried['id']).toBe(first['id']);
  await device.waitFor((l) => l['event'] === 'notifications' && (l['pushList'] as { id: string }[]).some((p) => p.id === first['id']), 30_000, 'idempotent push');
  const topic = ['send', ...settings, '--type', 'topic', '--target', 'flags-news', '--data', '{"n":1}', '--idempotency-key', `topic-${registrationId}`];
  expect((await runCli(topic))['id']).toBe((await runCli(topic))['id']);
  // Shown once although sent twice.
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(shown(String(first['id']))).toBe(1);

  // Scheduled: stored at once, routed to the (online) device no earlier than its time.
  const sendAt = new Date(Date.now() + 3_000);
  const later = String((await runCli(['send', ...settings, '--target', registrationId, '--title', 'later', '--ttl', '1h', '--send-at', sendAt.toISOString()]))['id']);
  const line = await device.waitFor((l) => l['event'] === 'notifications' && (l['pushList'] as { id: string }[]).some((p) => p.id === later), 30_000, `scheduled push ${later}`);
  const push = (line['pushList'] as { id: string; sentAt: string }[]).find((p) => p.id === later)!;
  expect(Date.parse(push.sentAt)).toBeGreaterThanOrEqual(sendAt.getTime());
  return device;
}

/**
 * The web console's server half (docs/auth.md, "Console sessions", "Console routes") through the
 * installation's public URL, as a browser uses it: the operator signs in with the admin token into
 * a cookie session; a device registers; the application list counts it; a test send from the
 * console reaches the device and is listed, looked up and counted; the overview names the
 * services. `/` serves the console, or answers 404 "not built" in a build without it.
 */
export async function checkConsole(installation: Installation, adminToken: string, project: Project, stateDir: string, services: string[]): Promise<JsonLineProcess> {
  const admin = `${installation.httpUrl}/auth/admin/v1`;
  const signIn = await fetch(`${admin}/console/operator-session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: adminToken }) });
  expect(signIn.status).toBe(200);
  const setCookie = signIn.headers.get('set-cookie') ?? '';
  expect(setCookie).toMatch(/^borealis_session=bco_[^;]+; HttpOnly; SameSite=Strict; Path=\/auth\/admin; Max-Age=\d+$/);
  const cookie = setCookie.split(';')[0]!;
  const { csrfToken } = (await signIn.json()) as { csrfToken: string };
  const read = (path: string) => http(`${admin}${path}`, { headers: { cookie } });

  const device = startDevice(installation.deviceUrl, project.applicationId, stateDir);
  const registrationId = await registrationIdOf(device);
  await expectEventually(async () => {
    const apps = await read(`/projects/${project.projectId}/applications`);
    const mine = (apps.body as unknown as { id: string; registrations: number | null }[]).find((a) => a.id === project.applicationId);
    expect(mine?.registrations).toBeGreaterThanOrEqual(1);
  });

  const body = { target: registrationId, type: 'device', ttl: '10m', notification: { title: 'From the console', message: 'test push', data: { console: true } } };
  const refused = await http(`${admin}/projects/${project.projectId}/messages`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect([refused.status, refused.body['detail']]).toEqual([403, 'missing or invalid CSRF token']);
  const invalid = await http(`${admin}/projects/${project.projectId}/messages`, {
    method: 'POST',
    headers: { cookie, 'x-csrf-token': csrfToken, 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, ttl: 'soon' }),
  });
  expect(invalid.status).toBe(400);
  expect(invalid.body['errors']).toMatchObject({ ttl: expect.any(String) });
  const sent = await http(`${admin}/projects/${project.projectId}/messages`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrfToken, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(sent.status).toBe(200);
  const id = String(sent.body['id']);
  const line = await device.waitFor((l) => l['event'] === 'notifications' && (l['pushList'] as { id: string }[]).some((p) => p.id === id), 30_000, `console push ${id}`);
  expect((line['pushList'] as { id: string; title: string }[]).find((p) => p.id === id)).toMatchObject({ title: 'From the console' });

  await expectEventually(
    async () => {
      const status = await read(`/projects/${project.projectId}/messages/${id}`);
      expect(status.body).toMatchObject({ id, projectId: project.projectId, state: 'delivered', counts: { delivered: 1 } });
    },
    { timeoutMs: 20_000, intervalMs: 300 },
  );
  const listed = await read(`/projects/${project.projectId}/messages?limit=20`);
  expect((listed.body['messages'] as { id: string }[]).map((m) => m.id)).toContain(id);
  const today = new Date().toISOString().slice(0, 10);
  await expectEventually(async () => {
    const stats = await read(`/projects/${project.projectId}/stats?from=${today}&to=${today}`);
    const day = (stats.body['days'] as { date: string; accepted: number; delivered: number }[]).find((d) => d.date === today);
    expect(day).toMatchObject({ accepted: expect.any(Number), delivered: expect.any(Number) });
    expect(day!.delivered).toBeGreaterThanOrEqual(1);
  });

  const overview = await read('/operator/overview');
  expect(overview.status).toBe(200);
  expect(overview.body['services']).toEqual(services.map((name) => ({ name, status: 'up' })));
  expect((overview.body['metrics'] as Record<string, number>)['pushesAccepted']).toBeGreaterThanOrEqual(1);

  const page = await fetch(`${installation.httpUrl}/invitations/accept?token=x`);
  if (page.status === 200) {
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
  } else {
    expect([page.status, ((await page.json()) as { detail: string }).detail]).toEqual([404, expect.stringContaining('the console is not built')]);
  }

  const out = await http(`${admin}/console/session`, { method: 'DELETE', headers: { cookie, 'x-csrf-token': csrfToken } });
  expect(out.status).toBe(204);
  expect((await read('/console/session')).status).toBe(401);
  return device;
}
