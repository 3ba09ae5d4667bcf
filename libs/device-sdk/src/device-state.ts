import { open, readFile, rename, mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Push } from './push';

export interface DeviceCredentials {
  deviceId: string;
  secret: string;
}

/** What a device keeps across restarts. */
export interface DeviceState {
  credentials: DeviceCredentials | null;
  /** applicationId → the registrationId it last received. */
  registrations: Record<string, string>;
  /** Recently seen message ids, oldest first. */
  seenMessageIds: string[];
  /** Notifications kept for apps that are not running, by applicationId. */
  held: Record<string, StoredPush[]>;
}

/** A Push as stored: times as milliseconds since the epoch. */
export interface StoredPush {
  id: string;
  applicationId: string;
  title: string;
  message: string;
  data: string;
  sentAtMs: number;
  expiresAtMs: number;
}

export function emptyDeviceState(): DeviceState {
  return { credentials: null, registrations: {}, seenMessageIds: [], held: {} };
}

/**
 * Notifications for apps that are not running (Aurora's inactive apps): kept per app, at most
 * `capacity` each (the oldest are dropped), until the app takes them or they expire with the
 * message's TTL.
 */
export class HeldPushes {
  private readonly byApp = new Map<string, Push[]>();

  constructor(
    private readonly capacity: number,
    stored: Record<string, StoredPush[]> = {},
    nowMs = 0,
  ) {
    for (const [applicationId, pushes] of Object.entries(stored)) {
      this.add(
        applicationId,
        pushes.map((p) => ({ id: p.id, applicationId: p.applicationId, title: p.title, message: p.message, data: p.data, sentAt: new Date(p.sentAtMs), expiresAt: new Date(p.expiresAtMs) })),
        nowMs,
      );
    }
  }

  has(applicationId: string): boolean {
    return this.byApp.has(applicationId);
  }

  /** Keeps `pushes` for the app; returns how many were dropped to stay within capacity. */
  add(applicationId: string, pushes: Push[], nowMs: number): number {
    const all = [...(this.byApp.get(applicationId) ?? []), ...pushes].filter((push) => push.expiresAt.getTime() > nowMs);
    const dropped = Math.max(0, all.length - this.capacity);
    if (all.length === 0) this.byApp.delete(applicationId);
    else this.byApp.set(applicationId, all.slice(dropped));
    return dropped;
  }

  /** Removes and returns the app's unexpired pushes. */
  take(applicationId: string, nowMs: number): Push[] {
    const pushes = this.byApp.get(applicationId) ?? [];
    this.byApp.delete(applicationId);
    return pushes.filter((push) => push.expiresAt.getTime() > nowMs);
  }

  live(nowMs: number): Map<string, Push[]> {
    const out = new Map<string, Push[]>();
    for (const [applicationId, pushes] of this.byApp) {
      const live = pushes.filter((push) => push.expiresAt.getTime() > nowMs);
      if (live.length > 0) out.set(applicationId, live);
    }
    return out;
  }

  toJSON(nowMs: number): Record<string, StoredPush[]> {
    const out: Record<string, StoredPush[]> = {};
    for (const [applicationId, pushes] of this.live(nowMs)) {
      out[applicationId] = pushes.map((p) => ({ id: p.id, applicationId: p.applicationId, title: p.title, message: p.message, data: p.data, sentAtMs: p.sentAt.getTime(), expiresAtMs: p.expiresAt.getTime() }));
    }
    return out;
  }
}

/**
 * A bounded window of recently seen ids: the oldest falls out once `capacity` is reached.
 * Redelivery happens within minutes of the first delivery, so a window is enough to drop
 * duplicates without growing forever.
 */
export class RecentIds {
  // A Set iterates in insertion order, so its first element is the oldest.
  private readonly ids = new Set<string>();

  constructor(
    private readonly capacity: number,
    initial: Iterable<string> = [],
  ) {
    for (const id of initial) this.add(id);
  }

  /** Records `id`; false when it was already in the window. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value!);
    return true;
  }

  toArray(): string[] {
    return [...this.ids];
  }
}

/**
 * The device state as one JSON file, replaced atomically (write a temp file, fsync, rename) so
 * that a crash leaves either the old or the new state, never half of one. The file holds the
 * device secret, so it is created readable by its owner only.
 */
export class FileStateStore {
  static readonly FILE_NAME = 'push-daemon.json';
  private readonly file: string;
  private writes = 0;

  constructor(private readonly dir: string) {
    this.file = join(dir, FileStateStore.FILE_NAME);
  }

  /** The stored state; an empty one when there is no file. Throws on a file it cannot parse. */
  async load(): Promise<DeviceState> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyDeviceState();
      throw err;
    }
    return parseDeviceState(text, this.file);
  }

  async save(state: DeviceState): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const temp = `${this.file}.${process.pid}.${++this.writes}.tmp`;
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify({ version: 1, ...state }));
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(temp, this.file);
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw err;
    }
  }
}

function parseDeviceState(text: string, file: string): DeviceState {
  const invalid = (why: string) => new Error(`device state ${file} is invalid: ${why}`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalid((err as Error).message);
  }
  if (!isRecord(raw) || raw['version'] !== 1) throw invalid('not a version 1 state object');
  const { credentials, registrations, seenMessageIds } = raw;
  // Absent in files written before apps could be inactive.
  const held = raw['held'] ?? {};
  if (
    credentials !== null &&
    !(isRecord(credentials) && typeof credentials['deviceId'] === 'string' && typeof credentials['secret'] === 'string')
  ) {
    throw invalid('credentials');
  }
  if (!isRecord(registrations) || !Object.values(registrations).every((v) => typeof v === 'string')) {
    throw invalid('registrations');
  }
  if (!Array.isArray(seenMessageIds) || !seenMessageIds.every((v) => typeof v === 'string')) {
    throw invalid('seenMessageIds');
  }
  if (!isRecord(held) || !Object.values(held).every((list) => Array.isArray(list) && list.every(isStoredPush))) {
    throw invalid('held');
  }
  return {
    credentials: credentials === null ? null : { deviceId: credentials['deviceId'] as string, secret: credentials['secret'] as string },
    registrations: { ...(registrations as Record<string, string>) },
    seenMessageIds: seenMessageIds as string[],
    held: held as Record<string, StoredPush[]>,
  };
}

function isStoredPush(value: unknown): value is StoredPush {
  return (
    isRecord(value) &&
    ['id', 'applicationId', 'title', 'message', 'data'].every((key) => typeof value[key] === 'string') &&
    typeof value['sentAtMs'] === 'number' &&
    typeof value['expiresAtMs'] === 'number'
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
