import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startCli, type JsonLineProcess } from '@borealis/testing';
import { checkCancel, checkConsole, checkHostileInput, checkListing, checkMulticast, checkSendFlags, checkRegistrations, expectDelivered, quickstart, registrationIdOf, sendAndReceive, startDevice, type Installation, type Project } from './support';

jest.setTimeout(120_000);

/**
 * Standalone mode as a user runs it: `borealis serve` (all services, in-process bus, embedded
 * PostgreSQL) in its own process, driven only through the CLI commands of the README walkthrough.
 */
describe('standalone mode, end to end', () => {
  const work = mkdtempSync(join(tmpdir(), 'borealis-standalone-'));
  // Run as root (CI), the embedded PostgreSQL runs as "postgres" and must be able to enter it.
  chmodSync(work, 0o755);
  const dataDir = join(work, 'data');
  let server: JsonLineProcess;
  let installation: Installation;
  let project: Project;
  const devices: JsonLineProcess[] = [];

  async function startServer(httpPort: number, devicePort: number): Promise<JsonLineProcess> {
    const proc = startCli(['serve'], { BOREALIS_HTTP_PORT: String(httpPort), BOREALIS_DEVICE_PORT: String(devicePort), BOREALIS_DATA_DIR: dataDir }, 'server');
    await proc.waitFor((l) => l['event'] === 'ready', 60_000, 'ready');
    return proc;
  }

  beforeAll(async () => {
    const [httpPort, devicePort] = [await freePort(), await freePort()];
    server = await startServer(httpPort, devicePort);
    const ready = server.lines.find((l) => l['event'] === 'ready')!;
    installation = { httpUrl: String(ready['http']), deviceUrl: String(ready['device']), adminEnv: { BOREALIS_DATA_DIR: dataDir } };
    project = await quickstart(installation, join(work, 'project-a'), 'project-a');
  });

  afterAll(async () => {
    await Promise.all(devices.map((d) => d.stop()));
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('token → send → device receives → status delivered', async () => {
    const device = startDevice(installation.deviceUrl, project.applicationId, join(work, 'device-1'));
    devices.push(device);
    const registrationId = await registrationIdOf(device);
    expect(registrationId.length).toBeGreaterThanOrEqual(22);
    const messageId = await sendAndReceive(project, device, registrationId, 'first push');
    await expectDelivered(project, messageId);
  });

  it('serves the web console: a cookie session, a test send delivered and counted, the operator overview', async () => {
    const { adminToken } = JSON.parse(readFileSync(join(dataDir, 'secrets.json'), 'utf8')) as { adminToken: string };
    devices.push(await checkConsole(installation, adminToken, project, join(work, 'device-console'), ['standalone']));
  });

  it('a device that reconnects keeps its registrationId, and pushes still reach it', async () => {
    const stateDir = join(work, 'device-2');
    const first = startDevice(installation.deviceUrl, project.applicationId, stateDir);
    const registrationId = await registrationIdOf(first);
    await first.stop();

    const again = startDevice(installation.deviceUrl, project.applicationId, stateDir);
    devices.push(again);
    expect(await registrationIdOf(again)).toBe(registrationId);
    await sendAndReceive(project, again, registrationId, 'after reconnect');

    // Another device with the same app gets its own registrationId.
    const other = startDevice(installation.deviceUrl, project.applicationId, join(work, 'device-3'));
    devices.push(other);
    expect(await registrationIdOf(other)).not.toBe(registrationId);
  });

  it('answers hostile input with precise errors and keeps serving', async () => {
    const other = await quickstart(installation, join(work, 'project-b'), 'project-b');
    await checkHostileInput(installation, project, other);
    // Still serving: a push goes through after all of that.
    const device = startDevice(installation.deviceUrl, project.applicationId, join(work, 'device-4'));
    devices.push(device);
    const messageId = await sendAndReceive(project, device, await registrationIdOf(device), 'still serving');
    await expectDelivered(project, messageId);
  });

  it('cancels a pending message: a device connecting afterwards never gets it', async () => {
    const other = await quickstart(installation, join(work, 'project-cancel-other'), 'project-cancel-other');
    devices.push(await checkCancel(installation, project, other, join(work, 'device-cancel')));
  });

  it('shows, lists the topics of and deletes a registration, for its own project only', async () => {
    const other = await quickstart(installation, join(work, 'project-registrations-other'), 'project-registrations-other');
    devices.push(await checkRegistrations(installation, project, other, join(work, 'device-registrations')));
  });

  it('lists a project’s messages newest first, page by page, by state and since', async () => {
    const other = await quickstart(installation, join(work, 'project-listing-other'), 'project-listing-other');
    await checkListing(installation, project, other);
  });

  it('multicasts one notification to several registrations, reporting foreign and malformed ids per recipient', async () => {
    const other = await quickstart(installation, join(work, 'project-multicast-other'), 'project-multicast-other');
    devices.push(...(await checkMulticast(installation, project, other, work)));
  });

  it('sends with --type, --priority, --collapse-key, --idempotency-key and --send-at from the CLI', async () => {
    devices.push(await checkSendFlags(installation, project, join(work, 'device-flags')));
  });
});
