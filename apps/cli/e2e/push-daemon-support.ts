import { execFileSync, spawn, type SpawnOptions } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { decodeFrame, encodeFramePrefixed, FrameSplitter, type Frame, type FrameInit } from '@borealis/contracts';
import { JsonLineProcess, REPO_ROOT, startCli } from '@borealis/testing';
import { client, type Project } from './support';

/** The TypeScript example app of @borealis/push-client, as built into dist/. */
export const TS_APP = join(REPO_ROOT, 'dist', 'libs', 'push-client', 'examples', 'print-pushes.js');
/** The C example app and library, built by tools/build-native.mjs. */
export const NATIVE_DIR = join(REPO_ROOT, 'dist', 'native');
export const C_APP = join(NATIVE_DIR, 'push-client-example');

export function startPushDaemon(configFile: string, name = 'push-daemon'): JsonLineProcess {
  return startCli(['push-daemon', '--config', configFile], {}, name);
}

export async function daemonListening(daemon: JsonLineProcess): Promise<void> {
  await daemon.waitFor((l) => l['event'] === 'listening', 30_000, 'listening');
}

/** An app process on the daemon (the TS example unless `command` says otherwise), as `as` if given. */
export function startApp(applicationId: string, socket: string, options: { name?: string; as?: { uid: number; gid: number }; command?: string[] } = {}): JsonLineProcess {
  const [program, ...args] = options.command ?? [process.execPath, TS_APP];
  const spawnOptions: SpawnOptions = {
    cwd: '/',
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/' },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.as ? { uid: options.as.uid, gid: options.as.gid } : {}),
  };
  const child = spawn(program!, [...args, applicationId, socket], spawnOptions);
  return new JsonLineProcess(child, options.name ?? `app ${applicationId}`);
}

/** The registrationId an app printed (the `after`-th line on). */
export async function registered(app: JsonLineProcess, after = 0): Promise<string> {
  const line = await app.waitFor((l) => l['event'] === 'registrationId' && app.lines.indexOf(l) >= after, 30_000, 'registrationId');
  return String(line['registrationId']);
}

export async function send(project: Project, registrationId: string, title: string, ttl = '1h'): Promise<string> {
  const { id } = await client(project).sendMessage({ target: registrationId, type: 'device', ttl, notification: { title, message: `message of ${title}`, data: { title } } });
  return id;
}

/** Every push id an app printed so far, in order. */
export function received(app: JsonLineProcess): string[] {
  return app.lines.filter((l) => l['event'] === 'notifications').flatMap((l) => (l['pushList'] as { id: string }[]).map((p) => p.id));
}

export async function receives(app: JsonLineProcess, messageId: string, timeoutMs = 30_000): Promise<void> {
  await app.waitFor((l) => l['event'] === 'notifications' && (l['pushList'] as { id: string }[]).some((p) => p.id === messageId), timeoutMs, `push ${messageId}`);
}

/** An OS user made for a test (useradd), removed by `remove()`. */
export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  remove(): void;
}

export function createUser(name: string): TestUser {
  if (process.getuid?.() !== 0) throw new Error('the multi-user tests create OS users and run apps as them: run them as root (as CI does)');
  execFileSync('useradd', ['--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', name]);
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  let removed = false;
  return {
    name,
    uid,
    gid,
    remove() {
      if (removed) return;
      removed = true;
      // --force: an app the daemon launched as this user may still be quitting.
      execFileSync('userdel', ['--force', name]);
    },
  };
}

/** A version 1 device, frame by frame: what an old client of the protocol does. */
export class V1Device {
  readonly frames: Frame[] = [];
  private readonly socket: Socket;
  private readonly splitter = new FrameSplitter();
  private readonly waiters = new Set<() => void>();

  constructor(deviceUrl: string) {
    const { hostname, port } = new URL(deviceUrl.replace(/^tcp:/, 'http:'));
    this.socket = connect(Number(port), hostname);
    this.socket.on('data', (chunk: Buffer) => {
      for (const body of this.splitter.push(chunk)) this.frames.push(decodeFrame(body));
      for (const wake of this.waiters) wake();
    });
    this.socket.on('error', () => undefined);
  }

  send(frame: FrameInit): void {
    this.socket.write(encodeFramePrefixed(frame));
  }

  next(predicate: (frame: Frame) => boolean, what: string, timeoutMs = 20_000): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.frames.find(predicate);
        if (!found) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`version 1 device: no ${what}; frames: ${this.frames.map((f) => f.kind).join(',')}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
