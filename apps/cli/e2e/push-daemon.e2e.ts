import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectEventually, freePort, startCli, type JsonLineProcess } from '@borealis/testing';
import { C_APP, createUser, daemonListening, receives, received, registered, send, startApp, startPushDaemon, TS_APP, V1Device, type TestUser } from './push-daemon-support';
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
  let c: Project;
  const users: TestUser[] = [];
  let alice: TestUser | undefined;
  const launchLog = join(work, 'launched-apps.log');

  /** Made on first use (and removed after all): only the multi-user tests need root. */
  function aliceUser(): TestUser {
    alice ??= track2(createUser(`brl${process.pid}a`));
    return alice;
  }

  function track2(user: TestUser): TestUser {
    users.push(user);
    return user;
  }

  /** The launcher's registry: project c's app is installed for alice only. */
  function multiUserConfig(): Record<string, unknown> {
    return {
      userCheckIntervalSeconds: 1,
      inactivityTimeoutSeconds: 3,
      launchLogFile: launchLog,
      apps: [{ applicationId: c.applicationId, user: aliceUser().name, command: [process.execPath, TS_APP, c.applicationId, socket] }],
    };
  }

  function launchedLines(): Record<string, unknown>[] {
    if (!existsSync(launchLog)) return [];
    return readFileSync(launchLog, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

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
    [a, b, c] = await Promise.all(['a', 'b', 'c'].map((x) => quickstart(installation, join(work, `project-${x}`), `project-${x}`)));
  });

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    for (const user of users) user.remove();
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
    // Held: the daemon asked the launcher, which has no entry for it.
    await daemon.waitFor((l) => l['event'] === 'launch_skipped' && l['applicationId'] === a.applicationId, 30_000, 'the push for A held');

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

  it('two OS users: each gets only its own pushes, neither can use or read the other\'s app, a deleted user is unregistered; version 1 devices are still served', async () => {
    const bob = track2(createUser(`brl${process.pid}b`));
    const aliceUid = aliceUser().uid;
    writeConfig(multiUserConfig());
    const daemon = track(startPushDaemon(configFile, 'push-daemon (users)'));
    await daemonListening(daemon);

    // The same app for both users: two registrations, each push to its own user only.
    const aliceApp = track(startApp(a.applicationId, socket, { name: 'alice: app A', as: aliceUser() }));
    const bobApp = track(startApp(a.applicationId, socket, { name: 'bob: app A', as: bob }));
    expect((await aliceApp.waitFor((l) => l['event'] === 'started'))['uid']).toBe(aliceUid);
    const [regAlice, regBob] = await Promise.all([registered(aliceApp), registered(bobApp)]);
    expect(regAlice).not.toBe(regBob);
    const [toAlice, toBob] = await Promise.all([send(a, regAlice, 'for alice'), send(a, regBob, 'for bob')]);
    await Promise.all([receives(aliceApp, toAlice), receives(bobApp, toBob)]);
    expect(received(aliceApp)).toEqual([toAlice]);
    expect(received(bobApp)).toEqual([toBob]);

    // Bob may not use the app installed for alice: no registration, nothing of hers.
    const bobAsC = track(startApp(c.applicationId, socket, { name: 'bob: app C', as: bob }));
    const denied = await bobAsC.waitFor((l) => l['event'] === 'registrationError', 20_000, 'registrationError');
    expect(denied).toMatchObject({ code: 'permission_denied', message: `user ${bob.uid} may not use ${c.applicationId}` });

    // A device that speaks only version 1 registers and receives as before.
    const v1 = new V1Device(deviceUrl);
    try {
      v1.send({ hello: { protocolVersion: 1, minProtocolVersion: 1, clientName: 'v1-device' } });
      expect((await v1.next((f) => f.kind === 'welcome', 'Welcome')).welcome?.protocolVersion).toBe(1);
      v1.send({ register: { requestId: 1, applicationId: a.applicationId } });
      const registration = (await v1.next((f) => f.kind === 'registerResult', 'RegisterResult')).registerResult!;
      expect(registration.registrationId).not.toBe('');
      const toV1 = await send(a, registration.registrationId!, 'for a version 1 device');
      const n = (await v1.next((f) => f.notification?.messageId === toV1, 'its push')).notification!;
      expect(n).toMatchObject({ applicationId: a.applicationId, registrationId: registration.registrationId, title: 'for a version 1 device' });
      v1.send({ ack: { messageIds: [toV1] } });
    } finally {
      v1.close();
    }
    expect(received(aliceApp)).toEqual([toAlice]);

    // Deleting bob on the device removes his registrations at the server.
    await Promise.all([bobApp.stop(), bobAsC.stop()]);
    bob.remove();
    await daemon.waitFor((l) => l['event'] === 'user_deleted' && l['user'] === String(bob.uid), 20_000, 'user_deleted');
    await expectEventually(
      async () => {
        const id = await send(a, regBob, 'for a deleted user');
        await expectEventually(async () => expect((await client(a).getMessageStatus(id)).state).toBe('failed'), { timeoutMs: 5000, intervalMs: 200 });
      },
      { timeoutMs: 20_000, intervalMs: 500 },
    );
    await Promise.all([aliceApp.stop(), daemon.stop()]);
  });

  it('launches an installed app that is not running for its push, as its user; holds a push for an app it cannot launch until its TTL', async () => {
    const user = aliceUser();
    writeConfig(multiUserConfig());
    const daemon = track(startPushDaemon(configFile, 'push-daemon (launcher)'));
    await daemonListening(daemon);

    // Alice's app C ran once and registered; it is not running now.
    const once = track(startApp(c.applicationId, socket, { name: 'alice: app C', as: user }));
    const regC = await registered(once);
    await once.stop();
    const toC = await send(c, regC, 'wake up');
    const launched = await daemon.waitFor((l) => l['event'] === 'launched' && l['applicationId'] === c.applicationId, 30_000, 'launched');
    expect(launched['user']).toBe(String(user.uid));
    // The launched app set its applicationId, got what was held, and quits when told it is inactive.
    await expectEventually(() => expect(launchedLines().some((l) => l['event'] === 'notifications' && (l['pushList'] as { id: string }[])[0]?.id === toC)).toBe(true), { timeoutMs: 30_000, intervalMs: 200 });
    expect(launchedLines().find((l) => l['event'] === 'started')).toMatchObject({ applicationId: c.applicationId, launched: true, uid: user.uid });
    const exited = await daemon.waitFor((l) => l['event'] === 'launched_exited' && l['applicationId'] === c.applicationId, 30_000, 'launched app exited');
    expect(exited['code']).toBe(0);
    expect(launchedLines().some((l) => l['event'] === 'clientInactive')).toBe(true);

    // App A is not installed for alice: its pushes wait for it, each until its own TTL.
    const appA = track(startApp(a.applicationId, socket, { name: 'alice: app A', as: user }));
    const regA = await registered(appA);
    await appA.stop();
    const shortLived = await send(a, regA, 'gone before the app runs', '2s');
    const longLived = await send(a, regA, 'still there', '1h');
    await daemon.waitFor((l) => l['event'] === 'launch_skipped' && l['applicationId'] === a.applicationId, 30_000, 'launch_skipped');
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const later = track(startApp(a.applicationId, socket, { name: 'alice: app A (later)', as: user }));
    await receives(later, longLived);
    expect(received(later)).toEqual([longLived]);
    expect(received(later)).not.toContain(shortLived);
    await Promise.all([later.stop(), daemon.stop()]);
  });
});
