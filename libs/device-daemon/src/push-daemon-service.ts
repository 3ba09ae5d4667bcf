import { readFileSync } from 'node:fs';
import { PushDaemon, splitAppKey } from '@borealis/device-sdk';
import type { DaemonConfig } from './daemon-config';
import { DaemonIpcServer } from './ipc-server';
import { AppLauncher, type InstalledApp } from './launcher';
import { osUserNamed, osUserOf } from './native';

export interface RunningPushDaemon {
  readonly daemon: PushDaemon;
  readonly ipc: DaemonIpcServer;
  /** Looks for deleted OS users now (also done every userCheckIntervalSeconds). */
  checkUsers(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `borealis push-daemon`: the device's one connection to the push service (PushDaemon), apps of
 * every local user served over the Unix socket, the launcher for installed apps that are not
 * running, and the clean-up of deleted users.
 */
export async function startPushDaemonService(config: DaemonConfig, log: (entry: Record<string, unknown>) => void): Promise<RunningPushDaemon> {
  const apps: InstalledApp[] = config.apps.map((app, index) => {
    const user = osUserNamed(app.user);
    if (!user) throw new Error(`invalid push daemon configuration: apps.${index}.user: no OS user "${app.user}"`);
    return { applicationId: app.applicationId, uid: user.uid, gid: user.gid, userName: user.name, home: user.home, command: app.command };
  });
  const launcher = new AppLauncher(apps, { socketPath: config.socket, logFile: config.launchLogFile, log });
  const daemon = new PushDaemon({
    server: config.server,
    stateDir: config.stateDir,
    clientName: 'borealis-push-daemon',
    ...(config.ca ? { tls: { ca: readFileSync(config.ca) } } : {}),
    launchApp: (applicationId, user) => launcher.launch(applicationId, user),
  });
  daemon.on('welcomed', (deviceId) => log({ event: 'welcomed', deviceId }));
  daemon.on('readinessChanged', (ready) => log({ event: 'readinessChanged', ready }));
  daemon.on('disconnected', (reason) => log({ event: 'disconnected', reason: reason.message }));
  daemon.on('warning', (error) => log({ event: 'warning', message: error.message }));
  daemon.on('consumed', (applicationId, messageIds) => log({ event: 'consumed', applicationId, messageIds }));

  const ipc = new DaemonIpcServer({
    socketPath: config.socket,
    socketMode: parseInt(config.socketMode, 8),
    socketGid: config.socketGroupId,
    daemon,
    mayUse: (applicationId, uid) => !launcher.restricts(applicationId) || launcher.find(applicationId, uid) !== undefined,
    inactivityTimeoutMs: config.inactivityTimeoutSeconds * 1000,
    maxConnectionsPerUser: config.maxConnectionsPerUser,
    maxConnections: config.maxConnections,
  });
  ipc.on('log', log);

  const checkUsers = async () => {
    for (const user of daemon.users()) {
      // Keys this daemon wrote are uids; anything else cannot belong to a live user.
      if (/^\d+$/.test(user) && osUserOf(Number(user)) !== null) continue;
      log({ event: 'user_deleted', user });
      await daemon.forgetUser(user).catch((err: Error) => log({ event: 'warning', message: `forgetting user ${user}: ${err.message}` }));
    }
  };

  // State first (registrations, held pushes), so that the first app to connect gets what was held.
  await daemon.start();
  await ipc.listen();
  log({ event: 'listening', socket: config.socket });
  // Pushes held across a restart for installed apps: start those apps now.
  for (const key of daemon.heldNotifications().keys()) {
    const { applicationId, user } = splitAppKey(key);
    if (user !== '') launcher.launch(applicationId, user);
  }
  const userTimer = setInterval(() => void checkUsers(), config.userCheckIntervalSeconds * 1000);
  userTimer.unref();
  void checkUsers();

  return {
    daemon,
    ipc,
    checkUsers,
    async stop() {
      clearInterval(userTimer);
      await ipc.close();
      await daemon.stop();
    },
  };
}
