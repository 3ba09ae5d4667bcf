import { Logger } from '@nestjs/common';
import type { DeadLetterV1, TopicDef } from '@borealis/contracts';
import { backoffDelay, sleep } from '@borealis/util';
import { Correlation, REQUEST_ID_HEADER } from './context';
import { runHandler, schemaProblem, type DeadLetter } from './dispatch';
import { MessageBus, type BusMessage, type PublishOptions, type PublishRecord, type Subscription } from './message-bus';
import { NO_BUS_OBSERVER, type BusObserver } from './observer';

/**
 * Virtual partitions per topic. One by default: in one process more partitions do not add CPU, only
 * more and smaller batches, so more transactions for the same records (measured in the end-to-end
 * benchmark: 8 partitions cost push-core 600 µs and PostgreSQL 280 µs of CPU per push, 1 partition
 * 385 and 90; docs/benchmarks.md, "End to end").
 */
const DEFAULT_PARTITIONS = 1;
/** The most records one handler call receives; a Kafka fetch hands over batches of this order too. */
const MAX_BATCH = 500;

/** A record in this process: the publisher's value itself (frozen), never serialized on the way. */
interface LocalRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  headers: Record<string, string>;
  value: unknown;
  /** Checked against the topic's schema at dispatch (`PublishOptions.unchecked`). */
  unchecked: boolean;
}

interface Pending {
  record: LocalRecord;
  settle(err?: unknown): void;
}

interface PartitionQueue {
  waiting: Pending[];
  /** The running drain loop, or null when the partition is idle. */
  running: Promise<void> | null;
}

interface Group {
  subscription: Subscription<unknown>;
  /** Per partition: records wait here while the previous batch runs (per-key order, as on Kafka). */
  partitions: PartitionQueue[];
}

/**
 * The standalone driver: topics live in this process. `publish` runs every subscribed group's
 * handler in per-key order, and resolves when all of them have finished: a message acknowledged to
 * an app server has then been stored by push-core. A handler that keeps failing makes `publish`
 * reject, so the caller answers 503 instead of acknowledging. Bad input is dead-lettered (kept in
 * memory and logged).
 *
 * Handlers get the publisher's value itself, deep-frozen, not a copy through JSON and the topic's
 * schema as from Kafka: every publisher in the process is typed against the topic's schema, and
 * what came from outside was validated where it entered (the HTTP API, a device frame). That round
 * trip was 5 % of the standalone server's CPU per push (docs/benchmarks.md, "Cost per push"). The
 * freeze keeps what the copy gave: no handler can change what another group, or the publisher, sees
 * (a write throws). Values must be plain JSON data (no `undefined` where the schema has no optional
 * field, no Dates), as the schema's type already says.
 *
 * Records are handled in batches, as a Kafka consumer receives them: a partition runs one handler
 * call at a time, and the records published while it runs (up to MAX_BATCH) form its next call. So
 * under load one database transaction stores many messages, and when quiet a record is handled at
 * once, or after its `batchWaitMs` when the subscription asks to wait for more. Each publish still
 * resolves only when its own records' batches have been handled (and rejects if one of them gave up).
 *
 * A publish made from inside a handler names the handler's batch (`PublishOptions.causedBy`), and
 * is queued but not awaited. Awaiting it could deadlock: the topics form cycles (inbox → receipts →
 * inbox), and each partition runs one handler at a time, so two handlers could each wait for the
 * other's partition. Nothing is lost by not waiting: in one process the queued record is as durable
 * as the handler's own position was; its failures are retried and then dead-lettered like any
 * other. The handler says so explicitly rather than the bus finding out through an
 * AsyncLocalStorage, which on Node 20 would run a promise hook for every promise in the process
 * (4 % of standalone's CPU per push: docs/benchmarks.md).
 */
export class InProcessMessageBus extends MessageBus {
  private readonly logger = new Logger('InProcessMessageBus');
  private readonly groups = new Map<string, Group[]>();
  private offsets = 0;
  private started = false;
  private stopping = false;
  readonly deadLetters: DeadLetterV1[] = [];

  private readonly observer: BusObserver;

  private readonly partitionCount: number;

  constructor(private readonly options: { maxAttempts?: number; retryBaseMs?: number; observer?: BusObserver; partitions?: number } = {}) {
    super();
    this.observer = options.observer ?? NO_BUS_OBSERVER;
    this.partitionCount = options.partitions ?? DEFAULT_PARTITIONS;
  }

  async publish<T>(topic: TopicDef<T>, records: PublishRecord<NoInfer<T>>[], options?: PublishOptions): Promise<void> {
    const fromHandler = options?.causedBy !== undefined;
    // While stopping, handlers may still publish: their records are part of what stop() drains.
    if (this.stopping && !fromHandler) throw new Error('message bus is stopping');
    const groups = this.groups.get(topic.name) ?? [];
    const work: Promise<void>[] = [];
    const requestId = Correlation.forPublish(options?.causedBy);
    for (const record of records) {
      const key = record.key ?? topic.key(record.value);
      const partition = partitionOf(key, this.partitionCount);
      const local: LocalRecord = { topic: topic.name, partition, offset: String(this.offsets++), key, headers: Correlation.withRequestId(record.headers, requestId), value: deepFreeze(record.value), unchecked: options?.unchecked === true };
      for (const group of groups) {
        work.push(new Promise<void>((resolve, reject) => this.enqueue(group, partition, { record: local, settle: (err) => (err === undefined ? resolve() : reject(err)) })));
      }
    }
    this.observer.published(topic.name, records.length);
    if (fromHandler) {
      for (const run of work) run.catch((err: unknown) => this.logger.error({ msg: 'handler gave up on a record published by a handler', topic: topic.name, error: String(err) }));
      return;
    }
    await Promise.all(work);
  }

  private enqueue(group: Group, partition: number, pending: Pending): void {
    const queue = group.partitions[partition]!;
    queue.waiting.push(pending);
    if (queue.running) return;
    // Start once the caller's synchronous work is done (the rest of its records join this batch),
    // or after the group's batchWaitMs; what is published while the batch runs forms the next one.
    const waitMs = group.subscription.batchWaitMs ?? 0;
    queue.running = (waitMs > 0 ? sleep(waitMs) : Promise.resolve()).then(() => this.drain(group, queue));
  }

  private async drain(group: Group, queue: PartitionQueue): Promise<void> {
    while (queue.waiting.length > 0) {
      const batch = queue.waiting.splice(0, MAX_BATCH);
      try {
        await this.dispatch(group.subscription, batch.map((p) => p.record));
        for (const p of batch) p.settle();
      } catch (err) {
        for (const p of batch) p.settle(err ?? new Error('handler failed'));
      }
    }
    queue.running = null;
  }

  async subscribe<T>(subscription: Subscription<T>): Promise<void> {
    const list = this.groups.get(subscription.topic.name) ?? [];
    if (list.some((g) => g.subscription.group === subscription.group)) {
      throw new Error(`group ${subscription.group} already subscribed to ${subscription.topic.name}`);
    }
    list.push({ subscription: subscription as Subscription<unknown>, partitions: Array.from({ length: this.partitionCount }, () => ({ waiting: [], running: null })) });
    this.groups.set(subscription.topic.name, list);
  }

  async start(): Promise<void> {
    this.started = true;
    this.stopping = false;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // Handlers may still queue records for each other: wait until every partition is idle.
    for (;;) {
      const running = [...this.groups.values()].flat().flatMap((g) => g.partitions.map((p) => p.running).filter((r) => r !== null));
      if (running.length === 0) break;
      await Promise.all(running);
    }
    this.started = false;
  }

  isReady(): boolean {
    return this.started && !this.stopping;
  }

  private async dispatch(subscription: Subscription<unknown>, records: LocalRecord[]): Promise<void> {
    const { group, topic } = { group: subscription.group, topic: subscription.topic.name };
    const dead: DeadLetter[] = [];
    const messages: BusMessage<unknown>[] = [];
    for (const record of records) {
      const problem = record.unchecked ? schemaProblem(subscription.topic, record.value) : null;
      if (problem === null) messages.push(record);
      else dead.push({ record: { ...record, value: JSON.stringify(record.value) ?? 'undefined' }, reason: problem });
    }
    const started = performance.now();
    let outcome: 'ok' | 'failed' = 'failed';
    try {
      dead.push(
        ...(await Correlation.run(Correlation.ofBatch(messages), () =>
          runHandler(subscription.handler, messages, {
            maxAttempts: this.options.maxAttempts ?? 5,
            delay: (attempt) => backoffDelay(attempt, this.options.retryBaseMs ?? 50, 2000),
            sleep: (ms) => sleep(ms),
            isStopping: () => this.stopping,
            onRetry: () => this.observer.retried(topic, group),
          }),
        )),
      );
      outcome = 'ok';
    } finally {
      if (messages.length > 0) this.observer.handled(topic, group, messages.length, (performance.now() - started) / 1000, outcome);
    }
    for (const letter of dead) this.deadLetter(group, letter);
    if (dead.length > 0) this.observer.deadLettered(topic, group, dead.length);
  }

  private deadLetter(group: string, { record, reason }: DeadLetter): void {
    this.logger.warn({ msg: 'dead-lettered', topic: record.topic, group, key: record.key, requestId: record.headers[REQUEST_ID_HEADER], reason });
    this.deadLetters.push({
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      consumerGroup: group,
      key: record.key,
      reason,
      value: typeof record.value === 'string' ? record.value : record.value.toString('utf8'),
      atMs: Date.now(),
    });
    if (this.deadLetters.length > 1000) this.deadLetters.shift();
  }
}

/** Freezes a plain JSON value and everything in it (objects and arrays); returns it. */
function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  if (Array.isArray(value)) {
    for (const item of value) deepFreeze(item);
  } else {
    for (const key in value) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return Object.freeze(value);
}

function partitionOf(key: string, partitions: number): number {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) | 0;
  return (h >>> 0) % partitions;
}
