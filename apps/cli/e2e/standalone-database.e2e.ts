import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { Client } from 'pg';
import { freePort, REPO_ROOT, startCli, type JsonLineProcess } from '@borealis/testing';
import { client, quickstart, type Installation, type Project } from './support';

jest.setTimeout(180_000);

/** The superuser password every standalone installation had before issue 15 (finding 1). */
const OLD_FIXED_PASSWORD = 'borealis-standalone';

/**
 * Issue 15, finding 1: the embedded PostgreSQL of a standalone installation must be closed to the
 * other accounts on the machine, the services' own credentials must not be a superuser's, and the
 * access-token signing keys must not lie in the database in clear.
 */
describe('standalone: the embedded PostgreSQL is closed to other local users', () => {
  const work = mkdtempSync(join(tmpdir(), 'borealis-pg-'));
  // Run as root (CI), the embedded PostgreSQL runs as "postgres" and must be able to enter it.
  chmodSync(work, 0o755);
  const dataDir = join(work, 'data');
  const clusterDir = join(dataDir, 'postgres');
  let server: JsonLineProcess | undefined;
  let installation: Installation;
  let project: Project;
  let ports: [number, number] | undefined;

  /** On the same ports every time: the project's settings file names them. */
  async function startServer(): Promise<JsonLineProcess> {
    ports ??= [await freePort(), await freePort()];
    const [httpPort, devicePort] = ports;
    const proc = startCli(['serve'], { BOREALIS_HTTP_PORT: String(httpPort), BOREALIS_DEVICE_PORT: String(devicePort), BOREALIS_DATA_DIR: dataDir }, 'server');
    await proc.waitFor((l) => l['event'] === 'ready', 90_000, 'ready');
    return proc;
  }

  function useServer(proc: JsonLineProcess): void {
    server = proc;
    const ready = proc.lines.find((l) => l['event'] === 'ready')!;
    installation = { httpUrl: String(ready['http']), deviceUrl: String(ready['device']), adminEnv: { BOREALIS_DATA_DIR: dataDir } };
  }

  /** postmaster.pid: pid, data directory, start time, port, socket directory, listen address, … */
  function postmaster(): { pid: number; port: number; socketDir: string } {
    const lines = readFileSync(join(clusterDir, 'postmaster.pid'), 'utf8').split('\n');
    return { pid: Number(lines[0]), port: Number(lines[3]), socketDir: lines[4] ?? '' };
  }

  function secrets(): Record<string, string> {
    return JSON.parse(readFileSync(join(dataDir, 'secrets.json'), 'utf8')) as Record<string, string>;
  }

  /** The credentials the services use; before the fix they were the superuser's fixed ones. */
  function serviceCredentials(): { user: string; password: string } {
    const s = secrets();
    return s['databasePassword'] ? { user: 'borealis', password: s['databasePassword'] } : { user: 'postgres', password: OLD_FIXED_PASSWORD };
  }

  async function connect(database: string, credentials: { user: string; password: string }): Promise<Client> {
    const { port } = postmaster();
    const db = new Client({ host: clusterDir, port, database, ...credentials });
    await db.connect();
    return db;
  }

  /** The TCP ports process `pid` listens on (as root, or as the process's own user). */
  function tcpListeners(pid: number): number[] {
    const socketInodes = new Set<string>();
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const inode = /^socket:\[(\d+)\]$/.exec(linkOf(`/proc/${pid}/fd/${fd}`))?.[1];
      if (inode) socketInodes.add(inode);
    }
    expect(socketInodes.size).toBeGreaterThan(0);
    return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((table) =>
      readFileSync(table, 'utf8')
        .split('\n')
        .slice(1)
        .map((line) => line.trim().split(/\s+/))
        // Columns: sl local_address rem_address st … inode (10th); st 0A is LISTEN.
        .filter((cols) => cols[3] === '0A' && socketInodes.has(cols[9] ?? ''))
        .map((cols) => parseInt(cols[1]!.split(':')[1]!, 16)),
    );
  }

  function linkOf(path: string): string {
    try {
      return readlinkSync(path);
    } catch {
      return ''; // closed in between
    }
  }

  async function jwks(): Promise<JSONWebKeySet> {
    const response = await fetch(`${installation.httpUrl}/auth/public/.well-known/jwks.json`);
    expect(response.status).toBe(200);
    return (await response.json()) as JSONWebKeySet;
  }

  beforeAll(async () => {
    useServer(await startServer());
    project = await quickstart(installation, join(work, 'project'), 'pg-project');
  });

  afterAll(async () => {
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('listens on no TCP port, only on a Unix socket in its 0700 cluster directory', () => {
    const { pid, socketDir } = postmaster();
    expect(tcpListeners(pid)).toEqual([]);
    expect(socketDir).toBe(clusterDir);
    expect(readdirSync(clusterDir).some((name) => /^\.s\.PGSQL\.\d+$/.test(name))).toBe(true);
    expect(statSync(clusterDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDir, 'secrets.json')).mode & 0o777).toBe(0o600);
  });

  it('refuses another local user, through the socket and over TCP with the old fixed password', async () => {
    const { pid, port, socketDir } = postmaster();
    // The superuser's password is no longer the fixed one every installation shared.
    const oldPassword = await connect('postgres', { user: 'postgres', password: OLD_FIXED_PASSWORD }).then(
      async (db) => {
        await db.end();
        return 'accepted';
      },
      (err: { code?: string }) => err.code,
    );
    expect(oldPassword).toBe('28P01');

    if (process.getuid?.() !== 0) {
      // Without root no second user can be made: the directory's owner and mode are what keep them out.
      expect(statSync(clusterDir).uid).toBe(process.getuid?.());
      return;
    }
    const other = `borealis-probe-${process.pid}`;
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', other]);
    try {
      // As that user, with this repository's pg client: the socket, and every TCP port the server listens on.
      const targets = [{ host: socketDir, port }, ...tcpListeners(pid).map((tcpPort) => ({ host: '127.0.0.1', port: tcpPort }))];
      const probe = `
        const { Client } = require('pg');
        const attempt = async (target) => {
          const db = new Client({ ...target, user: 'postgres', password: ${JSON.stringify(OLD_FIXED_PASSWORD)}, database: 'postgres' });
          try { await db.connect(); await db.end(); return 'connected'; } catch (e) { return e.code || e.message; }
        };
        (async () => process.stdout.write(JSON.stringify(await Promise.all(${JSON.stringify(targets)}.map(attempt)))))();`;
      const out = execFileSync('runuser', ['-u', other, '--', process.execPath, '-e', probe], { encoding: 'utf8', cwd: REPO_ROOT });
      const [throughSocket, ...overTcp] = JSON.parse(out) as string[];
      expect(throughSocket).toBe('EACCES');
      expect(overTcp).toEqual([]);
    } finally {
      execFileSync('userdel', [other]);
    }
  });

  it('gives the services a role that is no superuser, cannot run programs and cannot read server files', async () => {
    const db = await connect('borealis_auth', serviceCredentials());
    try {
      const role = await db.query<{ rolsuper: boolean; rolcreaterole: boolean; rolcreatedb: boolean }>(
        'SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user',
      );
      expect(role.rows[0]).toEqual({ rolsuper: false, rolcreaterole: false, rolcreatedb: false });
      await db.query('CREATE TEMP TABLE probe (line text)');
      await expect(db.query(`COPY probe FROM PROGRAM 'id'`)).rejects.toMatchObject({ code: '42501' });
      await expect(db.query(`SELECT pg_read_file('PG_VERSION')`)).rejects.toMatchObject({ code: '42501' });
      // It owns its two databases and nothing else.
      const owned = await db.query<{ datname: string }>('SELECT datname FROM pg_database WHERE pg_get_userbyid(datdba) = current_user ORDER BY datname');
      expect(owned.rows.map((r) => r.datname)).toEqual(['borealis_auth', 'borealis_push_core']);
    } finally {
      await db.end();
    }
  });

  it('keeps no signing key in clear in the database', async () => {
    await client(project).getAccessToken();
    const db = await connect('borealis_auth', serviceCredentials());
    try {
      const rows = await db.query('SELECT * FROM signing_keys');
      expect(rows.rowCount).toBeGreaterThan(0);
      const dump = JSON.stringify(rows.rows);
      expect(dump).not.toContain('PRIVATE KEY');
      // Nor the key's DER in base64 (a PKCS#8 RSA key starts "MII").
      expect(dump).not.toMatch(/MII[A-Za-z0-9+/]{100}/);
    } finally {
      await db.end();
    }
  });

  it('will not start with another signing-key encryption key, and says which secret is wrong', async () => {
    await server!.stop();
    const file = join(dataDir, 'secrets.json');
    const original = readFileSync(file, 'utf8');
    writeFileSync(file, JSON.stringify({ ...secrets(), signingKeyEncryptionKey: randomBytes(32).toString('base64') }));
    try {
      const [httpPort, devicePort] = ports!;
      const proc = startCli(['serve'], { BOREALIS_HTTP_PORT: String(httpPort), BOREALIS_DEVICE_PORT: String(devicePort), BOREALIS_DATA_DIR: dataDir }, 'server');
      try {
        const outcome = await proc.waitFor((l) => l['event'] === 'ready', 90_000, 'ready').then(
          () => 'ready',
          () => (proc.child.exitCode !== null ? `exited ${proc.child.exitCode}` : 'neither ready nor exited'),
        );
        expect(outcome).toBe('exited 1');
        expect(proc.tail(200)).toMatch(/cannot decrypt access-token signing key .*signingKeyEncryptionKey in a standalone installation's secrets.json/);
      } finally {
        await proc.stop();
      }
    } finally {
      writeFileSync(file, original);
    }
    useServer(await startServer());
  });

  it('closes an installation from before the fix on its next start: old password replaced, TCP rule gone, tables handed to the service role', async () => {
    const s = secrets();
    const admin = await connect('borealis_auth', { user: 'postgres', password: s['postgresPassword']! });
    try {
      // What an older version left behind: the shared password, a table its migrations made as the superuser.
      await admin.query(`ALTER ROLE postgres PASSWORD '${OLD_FIXED_PASSWORD}'`);
      await admin.query('CREATE TABLE left_by_superuser (id int)');
    } finally {
      await admin.end();
    }
    await server!.stop();
    writeFileSync(join(clusterDir, 'pg_hba.conf'), 'local all all password\nhost all all 127.0.0.1/32 password\n');
    useServer(await startServer());

    const oldPassword = await connect('postgres', { user: 'postgres', password: OLD_FIXED_PASSWORD }).then(
      async (db) => {
        await db.end();
        return 'accepted';
      },
      (err: { code?: string }) => err.code,
    );
    expect(oldPassword).toBe('28P01');
    expect(readFileSync(join(clusterDir, 'pg_hba.conf'), 'utf8')).not.toMatch(/^\s*host/m);
    const db = await connect('borealis_auth', serviceCredentials());
    try {
      const owner = await db.query(`SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relname = 'left_by_superuser'`);
      expect(owner.rows).toEqual([{ owner: 'borealis' }]);
    } finally {
      await db.end();
    }
  });

  it('after a restart signs with the same key: tokens from before and after verify', async () => {
    const before = await client(project).getAccessToken();
    await server!.stop();
    expect(existsSync(join(clusterDir, 'postmaster.pid'))).toBe(false);
    useServer(await startServer());

    const after = await client(project).getAccessToken();
    expect(decodeProtectedHeader(after).kid).toBe(decodeProtectedHeader(before).kid);
    const keys = createLocalJWKSet(await jwks());
    await expect(jwtVerify(before, keys, { algorithms: ['RS256'] })).resolves.toBeDefined();
    await expect(jwtVerify(after, keys, { algorithms: ['RS256'] })).resolves.toBeDefined();
    // And the gateway takes it.
    const read = await fetch(`${installation.httpUrl}/push/public/api/v1/projects/${project.projectId}/stats`, { headers: { authorization: `Bearer ${after}` } });
    expect(read.status).toBe(200);
  });
});
