import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeIpcFrame, IpcFrameReader, MAX_DAEMON_FRAME_BYTES, parseIpcBody } from '@borealis/push-client';
import { JsonLineProcess, REPO_ROOT } from '@borealis/testing';

const EXAMPLE = join(REPO_ROOT, 'dist', 'native', 'push-client-example');

/** A stand-in daemon on a real Unix socket: records what the library sends, sends what a test says. */
class FakeDaemon {
  readonly connections: { socket: Socket; requests: Record<string, unknown>[] }[] = [];
  private readonly server: Server;
  private readonly waiters = new Set<() => void>();

  constructor(readonly path: string) {
    this.server = createServer((socket) => {
      const connection = { socket, requests: [] as Record<string, unknown>[] };
      this.connections.push(connection);
      const reader = new IpcFrameReader();
      socket.on('data', (chunk: Buffer) => {
        for (const body of reader.push(chunk)) connection.requests.push(parseIpcBody(body));
        for (const wake of this.waiters) wake();
      });
      socket.on('error', () => undefined);
      socket.write(encodeIpcFrame({ event: 'hello', version: 1, ready: true, uid: 0 }));
      for (const wake of this.waiters) wake();
    });
  }

  async listen(): Promise<void> {
    this.server.listen(this.path);
    await once(this.server, 'listening');
  }

  close(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** The first request of connection `index` matching `op`, waiting for it. */
  request(index: number, op: string, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.connections[index]?.requests.find((r) => r['op'] === op);
        if (!found) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no ${op} on connection ${index}: ${JSON.stringify(this.connections.map((c) => c.requests))}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  send(index: number, message: object | Buffer): void {
    this.connections[index]!.socket.write(Buffer.isBuffer(message) ? message : encodeIpcFrame(message));
  }
}

function rawFrame(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  return Buffer.concat([header, body]);
}

describe('libpushclient (the C example under valgrind, against a stand-in daemon)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'borealis-libpushclient-'));

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('speaks the contract, survives hostile frames and a daemon restart, with no memory errors', async () => {
    expect(existsSync(EXAMPLE)).toBe(true);
    const daemon = new FakeDaemon(join(dir, 'daemon.sock'));
    await daemon.listen();
    const child = spawn('valgrind', ['--quiet', '--error-exitcode=99', '--leak-check=full', '--errors-for-leak-kinds=definite,indirect', EXAMPLE, 'app.c-example', daemon.path], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const app = new JsonLineProcess(child, 'push-client-example (valgrind)');
    try {
      const set = await daemon.request(0, 'setApplicationId');
      expect(set).toEqual({ id: expect.any(Number), op: 'setApplicationId', applicationId: 'app.c-example' });
      const registrate = await daemon.request(0, 'registrate');
      await app.waitFor((l) => l['event'] === 'pushSystemReadinessChanged' && l['ready'] === true, 20_000, 'ready');

      // Hostile and odd frames first: none may crash it or leak.
      daemon.send(0, rawFrame('{"event":"notifications","pushList":[{"id":"x"'));
      daemon.send(0, rawFrame('[1,2,3]'));
      daemon.send(0, rawFrame('{"event":"notifications","pushList":[{"title":"no id"}, 7, null]}'));
      daemon.send(0, rawFrame('"\\ud800"'));
      daemon.send(0, rawFrame('{"a":"\\u0000"}'));
      daemon.send(0, rawFrame(`${'['.repeat(100)}${']'.repeat(100)}`));
      daemon.send(0, rawFrame('{"reply":424242,"ok":true}'));
      daemon.send(0, rawFrame('{"event":"somethingNew","x":{"y":[1,2]}}'));
      // Then the real answers, escapes and non-ASCII text included.
      daemon.send(0, { reply: registrate['id'] as number, ok: true, registrationId: 'reg_c1' });
      await app.waitFor((l) => l['event'] === 'registrationId' && l['registrationId'] === 'reg_c1', 20_000, 'registrationId');
      const push = { id: 'm1', applicationId: 'app.c-example', title: 'Привет "мир" 🌍', message: 'line\nbreak\ttab\\', data: '{"k":[1,2]}', sentAtMs: 1_700_000_000_000, expiresAtMs: 1_800_000_000_000 };
      daemon.send(0, { event: 'notifications', pushList: [push, { ...push, id: 'm2', title: '' }] });
      const got = await app.waitFor((l) => l['event'] === 'notifications', 20_000, 'notifications');
      expect(got['pushList']).toEqual([
        { id: 'm1', applicationId: 'app.c-example', title: push.title, message: push.message, data: push.data, expiresAtMs: push.expiresAtMs },
        { id: 'm2', applicationId: 'app.c-example', title: '', message: push.message, data: push.data, expiresAtMs: push.expiresAtMs },
      ]);
      daemon.send(0, { event: 'registrationError', error: { code: 'unavailable', message: 'server away' } });
      await app.waitFor((l) => l['event'] === 'registrationError' && l['code'] === 'unavailable' && l['error'] === 'unavailable', 20_000, 'registrationError');
      daemon.send(0, { event: 'clientInactive' });
      await app.waitFor((l) => l['event'] === 'clientInactive', 20_000, 'clientInactive');

      // A frame above the limit: the library drops the connection and comes back, telling the
      // daemon its application id again.
      const oversize = Buffer.alloc(4);
      oversize.writeUInt32BE(MAX_DAEMON_FRAME_BYTES + 1);
      daemon.send(0, oversize);
      await app.waitFor((l) => l['event'] === 'pushSystemReadinessChanged' && l['ready'] === false, 20_000, 'not ready');
      expect(await daemon.request(1, 'setApplicationId')).toMatchObject({ applicationId: 'app.c-example' });
      await app.waitFor((l) => l['event'] === 'pushSystemReadinessChanged' && l['ready'] === true && app.lines.indexOf(l) > app.lines.findIndex((x) => x['ready'] === false), 20_000, 'ready again');
      // A refused application id arrives as a registration error.
      const again = await daemon.request(1, 'setApplicationId');
      daemon.send(1, { reply: again['id'] as number, ok: false, error: { code: 'permission_denied', message: 'user 0 may not use app.c-example' } });
      await app.waitFor((l) => l['event'] === 'registrationError' && l['code'] === 'permission_denied', 20_000, 'permission_denied');
    } finally {
      child.kill('SIGTERM');
      await app.exited;
      await daemon.close();
    }
    // valgrind exits 99 on any memory error or leak.
    expect({ code: child.exitCode, output: app.text.join('\n') }).toEqual({ code: 0, output: '' });
  }, 60_000);
});
