import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startCli, type JsonLineProcess } from '@borealis/testing';
import { C_APP, daemonListening, receives, received, registered, send, startApp, startPushDaemon } from './push-daemon-support';
import { client, quickstart, type Project } from './support';

jest.setTimeout(120_000);

/**
 * The device side as separate processes: a standalone server, `borealis push-daemon` owning the
 * device's one connection, and apps that talk to it over its Unix socket.
 */
describe('push daemon, end to end', () => {
  const work = mkdtempSync(join(tmpdir(), 'borealis-push-daemon-'));
  // Apps of other OS users must reach the socket and the built code through it.
  chmodSync(work, 0o755);
  const socket = join(work, 'run', 'daemon.sock');
  const configFile = join(work, 'push-daemon.json');
  const processes: JsonLineProcess[] = [];
  let server: JsonLineProcess;
  let deviceUrl: string;
  let a: Project;
  let b: Project;

  function track<T extends JsonLineProcess>(proc: T): T {
    processes.push(proc);
    return proc;
  }

  function writeConfig(extra: Record<string, unknown> = {}): void {
    writeFileSync(configFile, JSON.stringify({ server: deviceUrl, stateDir: join(work, 'daemon-state'), socket, inactivityTimeoutSeconds: 3600, ...extra }));
  }

  beforeAll(async () => {
    const dataDir = join(work, 'data');
    const [httpPort, devicePort] = [await freePort(), await freePort()];
    server = track(startCli(['serve'], { BOREALIS_HTTP_PORT: String(httpPort), BOREALIS_DEVICE_PORT: String(devicePort), BOREALIS_DATA_DIR: dataDir }, 'server'));
    const ready = await server.waitFor((l) => l['event'] === 'ready', 60_000, 'ready');
    deviceUrl = String(ready['device']);
    const installation = { httpUrl: String(ready['http']), deviceUrl, adminEnv: { BOREALIS_DATA_DIR: dataDir } };
    [a, b] = await Promise.all([quickstart(installation, join(work, 'project-a'), 'project-a'), quickstart(installation, join(work, 'project-b'), 'project-b')]);
  });

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    rmSync(work, { recursive: true, force: true });
  });

  it('serves two app processes their own pushes, and survives kill -9 of an app and of itself', async () => {
    writeConfig();
    let daemon = track(startPushDaemon(configFile));
    await daemonListening(daemon);
    const appA = track(startApp(a.applicationId, socket, { name: 'app A' }));
    const appB = track(startApp(b.applicationId, socket, { name: 'app B' }));
    const [regA, regB] = await Promise.all([registered(appA), registered(appB)]);
    expect(regA).not.toBe(regB);

    const [toA, toB] = await Promise.all([send(a, regA, 'for A'), send(b, regB, 'for B')]);
    await Promise.all([receives(appA, toA), receives(appB, toB)]);
    expect(received(appA)).toEqual([toA]);
    expect(received(appB)).toEqual([toB]);
    const pushA = appA.lines.find((l) => l['event'] === 'notifications')!['pushList'] as Record<string, unknown>[];
    expect(pushA[0]).toMatchObject({ id: toA, applicationId: a.applicationId, title: 'for A', message: 'message of for A', data: '{"title":"for A"}' });

    // kill -9 of an app: the daemon keeps serving the other, and holds the dead app's pushes.
    appA.child.kill('SIGKILL');
    await appA.exited;
    const whileADead = await send(a, regA, 'A was dead');
    const toB2 = await send(b, regB, 'B still served');
    await receives(appB, toB2);
    await daemon.waitFor((l) => l['event'] === 'warning' || (l['event'] === 'launch_skipped' && l['applicationId'] === a.applicationId), 30_000, 'the push for A held');

    // kill -9 of the daemon, with A's push held in its state and one more sent while it is down.
    daemon.child.kill('SIGKILL');
    await daemon.exited;
    await appB.waitFor((l) => l['event'] === 'pushSystemReadinessChanged' && l['ready'] === false, 10_000, 'not ready');
    const whileDaemonDead = await send(b, regB, 'daemon was dead');
    daemon = track(startPushDaemon(configFile, 'push-daemon (restarted)'));
    await daemonListening(daemon);

    // B reconnects by itself and gets what the server kept; A, started again, gets what the daemon held.
    await receives(appB, whileDaemonDead);
    const appA2 = track(startApp(a.applicationId, socket, { name: 'app A (again)' }));
    expect(await registered(appA2)).toBe(regA);
    await receives(appA2, whileADead);
    // Same registrations after the restart: a fresh registrate confirms the same ids.
    const appB2 = track(startApp(b.applicationId, socket, { name: 'app B (second process)' }));
    expect(await registered(appB2)).toBe(regB);
    const last = await send(a, regA, 'after restart');
    await receives(appA2, last);
    // Held pushes delivered once: nothing twice, nothing for the other app.
    expect(received(appA2)).toEqual([whileADead, last]);
    expect(received(appB)).toEqual([toB, toB2, whileDaemonDead]);
    expect(received(appB2)).toEqual([]);
    await Promise.all([appA2, appB, appB2, daemon].map((p) => p.stop()));
  });

  it('serves the C example app through libpushclient, with no memory errors under valgrind', async () => {
    writeConfig();
    const daemon = track(startPushDaemon(configFile, 'push-daemon (C app)'));
    await daemonListening(daemon);
    const valgrind = ['valgrind', '--quiet', '--error-exitcode=99', '--leak-check=full', '--errors-for-leak-kinds=definite,indirect', C_APP];
    const app = track(startApp(b.applicationId, socket, { name: 'C app', command: valgrind }));
    const registrationId = await registered(app);
    const title = 'C "quoted" \\ Привет 🌍';
    const { id } = await client(b).sendMessage({ target: registrationId, type: 'device', ttl: '1h', notification: { title, message: 'to C', data: { n: 1 } } });
    await receives(app, id);
    const pushList = app.lines.find((l) => l['event'] === 'notifications')!['pushList'];
    expect(pushList).toEqual([{ id, applicationId: b.applicationId, title, message: 'to C', data: '{"n":1}', expiresAtMs: expect.any(Number) }]);
    await app.stop();
    expect({ code: app.child.exitCode, valgrind: app.text.join('\n') }).toEqual({ code: 0, valgrind: '' });
    await daemon.stop();
  });
});
