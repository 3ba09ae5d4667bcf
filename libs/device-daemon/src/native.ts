import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Socket } from 'node:net';

/** Who is at the other end of a Unix socket, as the kernel recorded it when the peer connected. */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

export interface OsUser {
  uid: number;
  gid: number;
  name: string;
  home: string;
}

interface Addon {
  peerCredentials(fd: number): PeerCredentials;
  userOf(uid: number): OsUser | null;
  userNamed(name: string): OsUser | null;
}

const ADDON_FILE = 'borealis_peercred.node';
let addon: Addon | null = null;

/**
 * The N-API addon built by tools/build-native.mjs into dist/native/. Found through
 * BOREALIS_NATIVE_DIR, else by walking up from this file to the repository's dist/native (this
 * file runs from libs/ under Jest and from dist/libs/ when built).
 */
function native(): Addon {
  if (addon) return addon;
  const candidates: string[] = [];
  if (process.env['BOREALIS_NATIVE_DIR']) candidates.push(join(process.env['BOREALIS_NATIVE_DIR'], ADDON_FILE));
  for (let dir = __dirname; ; dir = dirname(dir)) {
    candidates.push(join(dir, 'dist', 'native', ADDON_FILE), join(dir, 'native', ADDON_FILE));
    if (dirname(dir) === dir) break;
  }
  const file = candidates.find((candidate) => existsSync(candidate));
  if (!file) throw new Error(`the push daemon's native addon (${ADDON_FILE}) is not built: run \`npm run build\` (it needs gcc)`);
  const module = { exports: {} as Addon };
  process.dlopen(module, file);
  addon = module.exports;
  return addon;
}

/** The kernel's credentials of a connected Unix socket's peer (SO_PEERCRED). */
export function peerCredentialsOf(socket: Socket): PeerCredentials {
  // Node keeps the descriptor on its internal handle; there is no public accessor.
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('the socket has no file descriptor');
  return native().peerCredentials(fd);
}

/** The OS user with this uid, or null when it does not exist (any more). */
export function osUserOf(uid: number): OsUser | null {
  return native().userOf(uid);
}

export function osUserNamed(name: string): OsUser | null {
  return native().userNamed(name);
}
