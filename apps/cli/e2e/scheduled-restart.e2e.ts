import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectEventually, freePort, runCli, startCli, type JsonLineProcess } from '@borealis/testing';
import { client, quickstart, registrationIdOf, startDevice, type Installation, type Project } from './support';

jest.setTimeout(240_000);

/** The pushes a device printed: id and when the server routed it (sentAt). */
function shown(device: JsonLineProcess): { id: string; sentAt: string }[] {
  return device.lines.filter((l) => l['event'] === 'notifications').flatMap((l) => l['pushList'] as { id: string; sentAt: string }[]);
}

/**
 * Scheduling and cancel are kept in the database, not in memory (issue 16): a standalone server
 * killed with kill -9 between the request and the scheduled time, and started again, still sends
 * the scheduled push (not before its time) and never sends the cancelled one.
 */
describe('a scheduled send and a cancel across kill -9 of the server', () => {
  const work = mkdtempSync(join(tmpdir(), 'borealis-scheduled-'));
  // Run as root (CI), the embedded PostgreSQL runs as "postgres" and must be able to enter it.
  chmodSync(work, 0o755);
  const dataDir = join(work, 'data');
  const processes: JsonLineProcess[] = [];
  let ports: { http: number; device: number };

  async function startServer(): Promise<JsonLineProcess> {
    const server = startCli(['serve'], { BOREALIS_HTTP_PORT: String(ports.http), BOREALIS_DEVICE_PORT: String(ports.device), BOREALIS_DATA_DIR: dataDir }, 'server');
    processes.push(server);
    await server.waitFor((l) => l['event'] === 'ready', 90_000, 'ready');
    return server;
  }

  beforeAll(async () => {
    ports = { http: await freePort(), device: await freePort() };
  });

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    rmSync(work, { recursive: true, force: true });
  });

  it('sends the scheduled push after the restart, not before its time, and never the cancelled one', async () => {
    const server = await startServer();
    const installation: Installation = { httpUrl: `http://127.0.0.1:${ports.http}`, deviceUrl: `tcp://127.0.0.1:${ports.device}`, adminEnv: { BOREALIS_DATA_DIR: dataDir } };
    const project: Project = await quickstart(installation, join(work, 'project'), 'scheduled');
    const settings = ['--settings', project.settingsFile];

    const online = startDevice(installation.deviceUrl, project.applicationId, join(work, 'online'));
    processes.push(online);
    const onlineId = await registrationIdOf(online);
    // A device that goes offline: its push waits in the database, and is cancelled there.
    const offlineState = join(work, 'offline');
    const offline = startDevice(installation.deviceUrl, project.applicationId, offlineState);
    const offlineId = await registrationIdOf(offline);
    await offline.stop();

    const sendAt = new Date(Date.now() + 20_000);
    const scheduled = String((await runCli(['send', ...settings, '--target', onlineId, '--title', 'scheduled', '--ttl', '1h', '--send-at', sendAt.toISOString()]))['id']);
    const cancelled = String((await runCli(['send', ...settings, '--target', offlineId, '--title', 'cancelled', '--ttl', '1h']))['id']);
    expect(await runCli(['cancel', ...settings, cancelled])).toMatchObject({ applied: true, state: 'cancelled' });
    expect(await client(project).getMessageStatus(scheduled)).toMatchObject({ state: 'stored', sendAt: sendAt.toISOString(), counts: { pending: 1 } });
    expect(Date.now()).toBeLessThan(sendAt.getTime());

    server.child.kill('SIGKILL');
    await server.exited;
    await startServer();
    const back = startDevice(installation.deviceUrl, project.applicationId, offlineState);
    processes.push(back);
    expect(await registrationIdOf(back)).toBe(offlineId);

    // The scheduled push arrives, routed no earlier than its time, once.
    await expectEventually(() => expect(shown(online).map((p) => p.id)).toContain(scheduled), { timeoutMs: 120_000, intervalMs: 500, message: 'scheduled push not shown' });
    const push = shown(online).filter((p) => p.id === scheduled);
    expect(push).toHaveLength(1);
    expect(Date.parse(push[0]!.sentAt)).toBeGreaterThanOrEqual(sendAt.getTime());
    await expectEventually(async () => expect(await client(project).getMessageStatus(scheduled)).toMatchObject({ state: 'delivered' }), { timeoutMs: 20_000, intervalMs: 500 });

    // The cancelled one: still cancelled, and the device that came back never got it.
    expect(await client(project).getMessageStatus(cancelled)).toMatchObject({ state: 'cancelled', counts: { cancelled: 1, pending: 0 } });
    const marker = String((await runCli(['send', ...settings, '--target', offlineId, '--title', 'after the restart']))['id']);
    await expectEventually(() => expect(shown(back).map((p) => p.id)).toContain(marker), { timeoutMs: 30_000, intervalMs: 300 });
    expect(shown(back).map((p) => p.id)).not.toContain(cancelled);
  });
});
