import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStateStore, RecentIds, emptyDeviceState, type DeviceState } from './device-state';

describe('RecentIds', () => {
  it('reports repeats and forgets the oldest id beyond its capacity', () => {
    const ids = new RecentIds(3, ['a', 'b']);
    expect(ids.add('a')).toBe(false);
    expect(ids.add('c')).toBe(true);
    expect(ids.add('d')).toBe(true);
    expect(ids.toArray()).toEqual(['b', 'c', 'd']);
    expect(ids.add('a')).toBe(true);
  });
});

describe('FileStateStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'device-state-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const state: DeviceState = {
    credentials: { deviceId: 'd1', secret: 's1' },
    registrations: { app1: 'reg1' },
    seenMessageIds: ['m1', 'm2'],
    held: { app2: [{ id: 'm3', applicationId: 'app2', title: 't', message: 'm', data: '{}', sentAtMs: 1, expiresAtMs: 4_102_444_800_000 }] },
  };

  it('loads an empty state when nothing was saved', async () => {
    expect(await new FileStateStore(join(dir, 'missing')).load()).toEqual(emptyDeviceState());
  });

  it('round-trips the state through an owner-only file and leaves no temp file behind', async () => {
    const store = new FileStateStore(join(dir, 'nested'));
    await store.save(emptyDeviceState());
    await store.save(state);
    expect(await new FileStateStore(join(dir, 'nested')).load()).toEqual(state);
    expect(await readdir(join(dir, 'nested'))).toEqual([FileStateStore.FILE_NAME]);
    expect((await stat(join(dir, 'nested', FileStateStore.FILE_NAME))).mode & 0o777).toBe(0o600);
  });

  it.each([
    ['not JSON', '{'],
    ['another version', JSON.stringify({ ...state, version: 2 })],
    ['a malformed registration', JSON.stringify({ ...state, version: 1, registrations: { app1: 7 } })],
    ['credentials without a secret', JSON.stringify({ ...state, version: 1, credentials: { deviceId: 'd1' } })],
  ])('refuses a file holding %s', async (_, text) => {
    await writeFile(join(dir, FileStateStore.FILE_NAME), text);
    await expect(new FileStateStore(dir).load()).rejects.toThrow(/device state .* is invalid/);
  });
});
