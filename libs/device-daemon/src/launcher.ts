import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';

/** An installed app: what to run, as whom, when a push arrives for it while it is not connected. */
export interface InstalledApp {
  applicationId: string;
  /** The OS user the app runs as, and whose registrations it uses. */
  uid: number;
  gid: number;
  userName: string;
  home: string;
  /** The program and its arguments (no shell). */
  command: string[];
}

export interface LauncherOptions {
  /** Where launched apps find the daemon (BOREALIS_PUSH_SOCKET in their environment). */
  socketPath: string;
  /** A launched app's stdout and stderr go here (appended); /dev/null when absent. */
  logFile?: string;
  /** An app is not started again sooner than this after its last start. Default 10 s. */
  minRestartIntervalMs?: number;
  log: (entry: Record<string, unknown>) => void;
}

/**
 * Aurora's push launcher: starts an installed app in the background, as its OS user, when a push
 * arrives for it and it is not connected. The push stays held by the daemon until the app connects
 * and sets its applicationId (or until the push's TTL); an app that is not installed, or cannot
 * start, is not retried before `minRestartIntervalMs`.
 */
export class AppLauncher {
  private readonly running = new Map<string, ChildProcess>();
  private readonly lastStart = new Map<string, number>();

  constructor(
    private readonly apps: readonly InstalledApp[],
    private readonly options: LauncherOptions,
  ) {}

  /** The installed app of this applicationId for this user, if any. */
  find(applicationId: string, uid: number): InstalledApp | undefined {
    return this.apps.find((app) => app.applicationId === applicationId && app.uid === uid);
  }

  /** Whether the registry names users for this applicationId (then only they may use it). */
  restricts(applicationId: string): boolean {
    return this.apps.some((app) => app.applicationId === applicationId);
  }

  /** `user` is the daemon's user key: the decimal uid. */
  launch(applicationId: string, user: string): void {
    const uid = /^\d+$/.test(user) ? Number(user) : NaN;
    const app = Number.isNaN(uid) ? undefined : this.find(applicationId, uid);
    if (!app) {
      this.options.log({ event: 'launch_skipped', applicationId, user, reason: 'not installed for this user: the push is held until the app connects or it expires' });
      return;
    }
    const key = `${uid}:${applicationId}`;
    if (this.running.has(key)) return;
    const now = Date.now();
    if (now - (this.lastStart.get(key) ?? -Infinity) < (this.options.minRestartIntervalMs ?? 10_000)) return;
    this.lastStart.set(key, now);

    const out = this.options.logFile ? openSync(this.options.logFile, 'a', 0o600) : 'ignore';
    let child: ChildProcess;
    try {
      child = spawn(app.command[0]!, app.command.slice(1), {
        uid: app.uid,
        gid: app.gid,
        // A system user may have no home directory.
        cwd: existsSync(app.home) ? app.home : '/',
        detached: true,
        stdio: ['ignore', out, out],
        env: {
          HOME: app.home,
          USER: app.userName,
          LOGNAME: app.userName,
          PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
          BOREALIS_PUSH_SOCKET: this.options.socketPath,
          // Aurora's background mode: the app knows it was started for a push, not by the user.
          BOREALIS_PUSH_LAUNCHED: '1',
        },
      });
    } catch (err) {
      this.options.log({ event: 'launch_failed', applicationId, user, message: (err as Error).message });
      return;
    } finally {
      if (typeof out === 'number') closeSync(out);
    }
    this.running.set(key, child);
    child.unref();
    this.options.log({ event: 'launched', applicationId, user, pid: child.pid ?? null });
    child.on('error', (err) => {
      this.running.delete(key);
      this.options.log({ event: 'launch_failed', applicationId, user, message: err.message });
    });
    child.on('exit', (code, signal) => {
      this.running.delete(key);
      this.options.log({ event: 'launched_exited', applicationId, user, code, signal });
    });
  }

  /** Stops nothing: launched apps outlive the daemon, as apps do. Only forgets them. */
  forget(): void {
    this.running.clear();
  }
}
