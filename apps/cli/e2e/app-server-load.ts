import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { PushApiError, type PushServerClient } from '@borealis/server-sdk';
import { expectEventually, type JsonLineProcess } from '@borealis/testing';
import { sleep } from '@borealis/util';
import { pushIds } from './push-core-cluster';

/** One send the app server attempted: when, to whom, and what it was answered. */
export interface SendOutcome {
  atMs: number;
  target: string;
  /** HTTP status; 0 when no answer came (connection refused or reset, timeout). */
  status: number;
  /** The message id of a 200. */
  id?: string;
  /** The problem's code otherwise. */
  code?: string;
}

/**
 * An application server sending pushes at a steady rate to a set of registrations, round robin,
 * recording every answer. A 200 is a promise that the push will be delivered; everything else is
 * counted by status.
 */
export class SendLoop {
  readonly outcomes: SendOutcome[] = [];
  /** Message id → registration id, for every 200. */
  readonly accepted = new Map<string, string>();
  private running = false;
  private workers: Promise<void>[] = [];
  private next = 0;

  constructor(
    private readonly api: PushServerClient,
    private readonly targets: readonly string[],
    private readonly perSecond: number,
    private readonly concurrency = 8,
  ) {}

  start(): void {
    this.running = true;
    const interval = (1000 * this.concurrency) / this.perSecond;
    this.workers = Array.from({ length: this.concurrency }, async () => {
      while (this.running) {
        const started = Date.now();
        await this.sendOne();
        await sleep(Math.max(0, interval - (Date.now() - started)));
      }
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }

  get ok(): number {
    return this.accepted.size;
  }

  /** Outcomes that are not a 200, by status. */
  refusedByStatus(from = 0): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const o of this.outcomes.slice(from)) if (o.status !== 200) counts[String(o.status)] = (counts[String(o.status)] ?? 0) + 1;
    return counts;
  }

  /** Waits until `n` more sends than now were answered 200 (the installation serves). */
  async expectAccepting(n: number, timeoutMs = 60_000): Promise<void> {
    const from = this.ok;
    await expectEventually(() => expect(this.ok - from).toBeGreaterThanOrEqual(n), { timeoutMs, intervalMs: 100, message: `fewer than ${n} sends accepted` });
  }

  /** Waits until `n` more sends than now were answered at all (200 or not). */
  async expectAttempts(n: number, timeoutMs = 60_000): Promise<void> {
    const from = this.outcomes.length;
    await expectEventually(() => expect(this.outcomes.length - from).toBeGreaterThanOrEqual(n), { timeoutMs, intervalMs: 100 });
  }

  private async sendOne(): Promise<void> {
    const target = this.targets[this.next++ % this.targets.length]!;
    const atMs = Date.now();
    try {
      const { id } = await this.api.sendMessage({ target, ttl: '1h', notification: { title: 'steady', message: `to ${target.slice(0, 8)}` } });
      this.accepted.set(id, target);
      this.outcomes.push({ atMs, target, status: 200, id });
    } catch (err) {
      if (!(err instanceof PushApiError)) throw err;
      this.outcomes.push({ atMs, target, status: err.status, code: err.code });
    }
  }
}

/** What the devices' apps saw of the accepted pushes. */
export interface DeliveryAudit {
  /** Accepted (200) pushes no device showed. */
  lost: string[];
  /** Pushes an app showed more than once (on one device, or on several). */
  duplicates: string[];
  /** Accepted pushes shown on a device that was not their target. */
  misrouted: string[];
  /** Pushes shown that were not answered 200 (made durable although the answer was lost). */
  unacknowledgedShown: number;
}

/** Counts each push id across every device's output and compares with what was accepted. */
export function auditDelivery(accepted: ReadonlyMap<string, string>, devices: ReadonlyMap<string, JsonLineProcess>): DeliveryAudit {
  const seen = new Map<string, string[]>();
  for (const [registrationId, device] of devices) {
    for (const id of pushIds(device)) seen.set(id, [...(seen.get(id) ?? []), registrationId]);
  }
  const audit: DeliveryAudit = { lost: [], duplicates: [], misrouted: [], unacknowledgedShown: 0 };
  for (const [id, target] of accepted) {
    const where = seen.get(id);
    if (!where) audit.lost.push(id);
    else if (where.some((r) => r !== target)) audit.misrouted.push(id);
  }
  for (const [id, where] of seen) {
    if (where.length > 1) audit.duplicates.push(id);
    if (!accepted.has(id)) audit.unacknowledgedShown++;
  }
  return audit;
}

/** Waits until every accepted push was shown on its device, then checks that none was shown twice. */
export async function expectDeliveredOnce(accepted: ReadonlyMap<string, string>, devices: ReadonlyMap<string, JsonLineProcess>, timeoutMs: number): Promise<DeliveryAudit> {
  await expectEventually(() => expect(auditDelivery(accepted, devices).lost).toEqual([]), { timeoutMs, intervalMs: 500, message: 'accepted pushes not shown' });
  const audit = auditDelivery(accepted, devices);
  expect(audit).toMatchObject({ lost: [], duplicates: [], misrouted: [] });
  return audit;
}

/** Waits until push-core's database has every accepted push's delivery `delivered` (one each). */
export async function expectAllDelivered(coreDatabaseUrl: string, messageIds: readonly string[], timeoutMs: number): Promise<void> {
  const db = new Client({ connectionString: coreDatabaseUrl });
  await db.connect();
  try {
    await expectEventually(
      async () => {
        const { rows } = await db.query<{ state: string; n: number }>('SELECT state, count(*)::int AS n FROM deliveries WHERE message_id = ANY($1) GROUP BY state ORDER BY state', [messageIds]);
        const open = await db.query<{ message_id: string; state: string }>("SELECT message_id, state FROM deliveries WHERE message_id = ANY($1) AND state <> 'delivered' LIMIT 10", [messageIds]);
        expect({ states: rows, notDelivered: open.rows }).toEqual({ states: [{ state: 'delivered', n: messageIds.length }], notDelivered: [] });
      },
      { timeoutMs, intervalMs: 500, message: 'deliveries not all delivered' },
    );
  } finally {
    await db.end();
  }
}

/** The sum of a metric's samples (every label set) in a service's /metrics. */
export async function metricSum(httpUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^(\w+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const found = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/** Push-core's rows for some messages (every column), to tell where a lost push stopped. */
export async function coreRowsOf(coreDatabaseUrl: string, messageIds: readonly string[]): Promise<{ messages: Record<string, unknown>[]; deliveries: Record<string, unknown>[] }> {
  const db = new Client({ connectionString: coreDatabaseUrl });
  await db.connect();
  try {
    const messages = await db.query<Record<string, unknown>>('SELECT * FROM messages WHERE id = ANY($1) ORDER BY id', [messageIds]);
    const deliveries = await db.query<Record<string, unknown>>('SELECT * FROM deliveries WHERE message_id = ANY($1) ORDER BY message_id', [messageIds]);
    return { messages: messages.rows, deliveries: deliveries.rows };
  } finally {
    await db.end();
  }
}

/** Writes every process's output to `dir` (one JSON-lines file each), for a failure's post-mortem. */
export function saveOutputs(dir: string, processes: readonly JsonLineProcess[]): void {
  mkdirSync(dir, { recursive: true });
  processes.forEach((p, i) => writeFileSync(join(dir, `${String(i).padStart(2, '0')}-${p.name.replace(/[^\w.-]+/g, '_')}.jsonl`), [...p.lines.map((l) => JSON.stringify(l)), ...p.text].join('\n') + '\n'));
}
