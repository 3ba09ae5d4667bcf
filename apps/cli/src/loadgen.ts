import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PushDaemon, type PushClient } from '@borealis/device-sdk';
import { printJson, UsageError } from './usage';

/** This machine caps a process at 20,000 open files: stay well below it per worker. */
const MAX_DEVICES_PER_PROCESS = 15_000;
/** Ephemeral ports per (source address, server): stay below the default range of about 28,000. */
const MAX_DEVICES_PER_SOURCE = 25_000;
const WORKER_ENV = 'BOREALIS_LOADGEN_WORKER';

interface Plan {
  servers: string[];
  devices: number;
  apps: string[];
  appsPerDevice: number;
  processes: number;
  sources: string[];
  ratePerSecond: number;
  durationSeconds: number;
  ca: string | undefined;
  /** Print every registration and every notification received (benchmarks join them with their sends). */
  receipts: boolean;
}

/** What a worker saw since its last report, when --receipts is on. */
interface WorkerEvents {
  /** [applicationId, registrationId] */
  registrations: [string, string][];
  /** [messageId, registrationId, receivedAtMs]: the wall clock in milliseconds with a fraction. */
  receipts: [string, string, number][];
}

interface WorkerReport {
  worker: number;
  devices: number;
  ready: number;
  registered: number;
  registrationErrors: number;
  notifications: number;
  reconnects: number;
  events?: WorkerEvents;
}

/**
 * `borealis loadgen`: many simulated devices built on the device SDK, spread over several worker
 * processes (each under the per-process open-file cap) and several loopback source addresses
 * (each under the ephemeral-port range). Prints a JSON progress line per second and a summary.
 */
export async function loadgenCommand(args: string[]): Promise<void> {
  const plan = parsePlan(args);
  const worker = process.env[WORKER_ENV];
  if (worker !== undefined) return runWorker(plan, Number(worker));

  const perProcess = Math.ceil(plan.devices / plan.processes);
  const children: ChildProcess[] = [];
  const reports = new Map<number, WorkerReport>();
  const startedAt = Date.now();
  for (let i = 0; i < plan.processes; i++) {
    const child = fork(process.argv[1]!, ['loadgen', ...args], { env: { ...process.env, [WORKER_ENV]: String(i) }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    child.on('message', ({ events, ...report }: WorkerReport) => {
      reports.set(report.worker, report);
      if (events?.registrations.length) printJson({ event: 'registrations', worker: report.worker, items: events.registrations });
      if (events?.receipts.length) printJson({ event: 'receipts', worker: report.worker, items: events.receipts });
    });
    children.push(child);
  }
  const total = (): Omit<WorkerReport, 'worker' | 'events'> & { elapsedMs: number } => {
    const all = [...reports.values()];
    const sum = (key: Exclude<keyof WorkerReport, 'events'>) => all.reduce((n, r) => n + r[key], 0);
    return {
      elapsedMs: Date.now() - startedAt,
      devices: sum('devices'),
      ready: sum('ready'),
      registered: sum('registered'),
      registrationErrors: sum('registrationErrors'),
      notifications: sum('notifications'),
      reconnects: sum('reconnects'),
    };
  };
  printJson({ event: 'plan', ...plan, ca: plan.ca !== undefined, devicesPerProcess: perProcess });
  const progress = setInterval(() => printJson({ event: 'progress', ...total() }), 1000);
  const finish = () => {
    clearInterval(progress);
    for (const child of children) child.kill('SIGTERM');
  };
  process.once('SIGINT', finish);
  process.once('SIGTERM', finish);
  const deadline = plan.durationSeconds > 0 ? setTimeout(finish, plan.durationSeconds * 1000) : null;
  await Promise.all(children.map((child) => new Promise((resolve) => child.once('exit', resolve))));
  if (deadline) clearTimeout(deadline);
  clearInterval(progress);
  printJson({ event: 'summary', ...total() });
}

function parsePlan(args: string[]): Plan {
  const { values } = parseArgs({
    args,
    options: {
      server: { type: 'string', multiple: true },
      devices: { type: 'string' },
      apps: { type: 'string' },
      app: { type: 'string', multiple: true },
      processes: { type: 'string' },
      'source-addresses': { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      ca: { type: 'string' },
      receipts: { type: 'boolean' },
    },
    strict: true,
  });
  const int = (value: string | undefined, flag: string, fallback: number): number => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} must be a non-negative integer`);
    return n;
  };
  if (!values.server?.length) throw new UsageError('--server is required');
  const devices = int(values.devices, '--devices', 1);
  if (devices < 1) throw new UsageError('--devices must be at least 1');
  const apps = values.app ?? [];
  const appsPerDevice = int(values.apps, '--apps', apps.length);
  if (appsPerDevice > 0 && apps.length === 0) throw new UsageError('--apps needs the application ids: --app ID (repeatable)');
  const processes = int(values.processes, '--processes', Math.ceil(devices / MAX_DEVICES_PER_PROCESS));
  if (processes < 1 || Math.ceil(devices / processes) > MAX_DEVICES_PER_PROCESS) {
    throw new UsageError(`--processes must keep each process at or below ${MAX_DEVICES_PER_PROCESS} devices (20,000 open files per process)`);
  }
  const sources = values['source-addresses']
    ? values['source-addresses'].split(',').map((s) => s.trim()).filter(Boolean)
    : Array.from({ length: Math.ceil(devices / MAX_DEVICES_PER_SOURCE) }, (_, i) => `127.0.0.${i + 1}`);
  return {
    servers: values.server,
    devices,
    apps,
    appsPerDevice,
    processes,
    sources,
    ratePerSecond: int(values.rate, '--rate', 1000),
    durationSeconds: int(values.duration, '--duration', 0),
    ca: values.ca,
    receipts: values.receipts ?? false,
  };
}

/** One worker: its share of the devices, connected at its share of the rate; reports to the parent every second. */
async function runWorker(plan: Plan, worker: number): Promise<void> {
  const share = Math.floor(plan.devices / plan.processes) + (worker < plan.devices % plan.processes ? 1 : 0);
  const firstIndex = worker * Math.floor(plan.devices / plan.processes) + Math.min(worker, plan.devices % plan.processes);
  const ca = plan.ca !== undefined ? readFileSync(plan.ca) : undefined;
  const report: WorkerReport = { worker, devices: 0, ready: 0, registered: 0, registrationErrors: 0, notifications: 0, reconnects: 0 };
  const daemons: PushDaemon[] = [];
  const events: WorkerEvents = { registrations: [], receipts: [] };
  const send = () => {
    if (!plan.receipts) return process.send?.(report);
    process.send?.({ ...report, events: { registrations: events.registrations.splice(0), receipts: events.receipts.splice(0) } });
  };
  // With receipts, report often: the parent prints them as they come.
  const timer = setInterval(send, plan.receipts ? 100 : 1000);
  let stopping = false;
  process.once('SIGTERM', () => {
    stopping = true;
    clearInterval(timer);
    send();
    void Promise.all(daemons.map((d) => d.stop())).finally(() => process.exit(0));
  });

  const intervalMs = (1000 * plan.processes) / Math.max(1, plan.ratePerSecond);
  for (let i = 0; i < share && !stopping; i++) {
    const index = firstIndex + i;
    const daemon = new PushDaemon({
      server: plan.servers,
      clientName: 'borealis-loadgen',
      localAddress: plan.sources[index % plan.sources.length]!,
      backoff: { baseMs: 1000, capMs: 30_000 },
      ...(ca ? { tls: { ca } } : {}),
    });
    daemons.push(daemon);
    report.devices++;
    daemon.on('readinessChanged', (ready) => (report.ready += ready ? 1 : -1));
    daemon.on('reconnecting', () => report.reconnects++);
    for (let a = 0; a < plan.appsPerDevice; a++) {
      const client = daemon.createClient({ applicationId: plan.apps[(index + a) % plan.apps.length]!, inactivityTimeoutMs: 2 ** 31 - 1 });
      let registrationId = '';
      client.on('registrationId', (id) => (registrationId = id));
      client.on('notifications', (pushes) => {
        report.notifications += pushes.length;
        if (!plan.receipts) return;
        const at = performance.timeOrigin + performance.now();
        for (const push of pushes) events.receipts.push([push.id, registrationId, at]);
      });
      void registrateWithRetries(client, () => stopping).then((id) => {
        if (!id) {
          report.registrationErrors++;
          process.stderr.write(`loadgen: ${client.applicationId}: registration failed: ${client.error ?? ''} ${client.errorMessage}\n`);
          return;
        }
        report.registered++;
        if (plan.receipts) events.registrations.push([client.applicationId, id]);
      });
    }
    await daemon.start();
    if (intervalMs >= 1) await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** As an app would on `registrationError`: try again a few times with growing pauses, then give up. */
async function registrateWithRetries(client: PushClient, stopping: () => boolean, attempts = 4): Promise<string | null> {
  for (let attempt = 1; ; attempt++) {
    const id = await client.registrate();
    if (id || attempt >= attempts || stopping()) return id;
    await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
  }
}
