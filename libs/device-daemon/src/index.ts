export { DaemonIpcServer, type IpcServerOptions, type IpcServerEvents } from './ipc-server';
export { AppLauncher, type InstalledApp, type LauncherOptions } from './launcher';
export { DaemonConfig, parseDaemonConfig } from './daemon-config';
export { startPushDaemonService, type RunningPushDaemon } from './push-daemon-service';
export { osUserNamed, osUserOf, peerCredentialsOf, type OsUser, type PeerCredentials } from './native';
