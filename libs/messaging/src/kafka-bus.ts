import { Logger } from '@nestjs/common';
import { Kafka, logLevel, type Admin, type SASLOptions, type Consumer, type EachBatchPayload, type IHeaders, type LogEntry } from 'kafkajs';
import { Topics, type DeadLetterV1, type TopicDef } from '@borealis/contracts';
import { backoffDelay, sleep } from '@borealis/util';
import { Correlation, REQUEST_ID_HEADER } from './context';
import { decodeRecords, errorText, runHandler, type DeadLetter, type RawRecord } from './dispatch';
import { KafkaProducer, type KafkaTlsOptions } from './kafka-producer';
import type { KafkaSaslOptions } from './kafka-sasl';
import type { WireRecord } from './kafka-wire';
import { MessageBus, type PublishOptions, type PublishRecord, type Subscription } from './message-bus';
import { NO_BUS_OBSERVER, type BusObserver } from './observer';

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  /**
   * `admin`: create missing topics through the admin API with the partitions and replication
   * below (production and the tests). `auto`: rely on the broker's automatic topic creation (for
   * clusters where Borealis may not use the admin API).
   */
  topicCreation: 'admin' | 'auto';
  partitions: number;
  /** -1 takes the broker's default. */
  replicationFactor: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** How long a fetch waits for data; small values lower latency on quiet topics. */
  maxWaitTimeMs: number;
  /** How long a publish may take before it fails (and the gateway answers 503). */
  requestTimeoutMs: number;
  /** Idempotent producing (producer id and sequences): a retry never writes twice. Default true. */
  idempotent?: boolean;
  /** The largest produce request, the brokers' message.max.bytes; default 1048588. */
  maxRequestBytes?: number;
  /** TLS to the brokers (producer, consumers and admin alike). */
  tls?: KafkaTlsOptions;
  /** SASL authentication with the brokers (producer, consumers and admin alike). */
  sasl?: KafkaSaslOptions;
  observer?: BusObserver;
}

/** The most records one produce request carries when publishes are coalesced. */
const MAX_COALESCED = 1000;

interface OutgoingBatch {
  records: WireRecord[];
  settle: ((err?: unknown) => void)[];
}

interface Consuming {
  subscription: Subscription<unknown>;
  consumer: Consumer | null;
  joined: boolean;
  commits: Commits | null;
}

/** One consumer's offset commits, in order: each goes out once the one before it was answered. */
interface Commits {
  last: Promise<void>;
  /** A commit refused for another reason than a lost group membership: it fails the next round. */
  failure?: unknown;
}

/** One partition's batch of a fetch, waiting for the handler call it is merged into. */
interface PartitionBatch {
  payload: EachBatchPayload;
  settle: (err?: unknown) => void;
}

/**
 * The distributed driver: kafkajs for consuming and topic administration, the lean
 * `KafkaProducer` for publishing (kafkajs's producer cost several times its CPU per record on the
 * gateway's hot path: docs/adr/0004-own-kafka-producer.md). Publishes wait for all in-sync
 * replicas (acks -1) and are idempotent by default. Each
 * subscription is its own consumer group member; offsets are committed only after the handler
 * succeeded (or the record was dead-lettered), so a crash replays rather than loses.
 */
export class KafkaMessageBus extends MessageBus {
  private readonly logger = new Logger('KafkaMessageBus');
  private readonly kafka: Kafka;
  private readonly producer: KafkaProducer;
  private readonly consuming: Consuming[] = [];
  private readonly ensured = new Map<string, Promise<void>>();
  /** Consumers stop() disconnected: kafkajs must not restart them after a crash. */
  private readonly stopped = new WeakSet<Consumer>();
  /** Pending replacements of consumers kafkajs gave up on. */
  private readonly replacing = new Set<NodeJS.Timeout>();
  private readonly outgoing = new Map<string, OutgoingBatch>();
  /** Partitions of each topic, as the broker's metadata listed them when the topic was ensured. */
  private readonly partitionCounts = new Map<string, number>();
  private admin: Admin | null = null;
  private adminConnected: Promise<void> = Promise.resolve();
  private started = false;
  private stopping = false;
  private readonly observer: BusObserver;

  constructor(private readonly options: KafkaBusOptions) {
    super();
    this.observer = options.observer ?? NO_BUS_OBSERVER;
    this.kafka = new Kafka({
      clientId: options.clientId,
      brokers: options.brokers,
      requestTimeout: options.requestTimeoutMs,
      connectionTimeout: Math.min(options.requestTimeoutMs, 3000),
      retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
      logLevel: logLevel.WARN,
      logCreator: () => (entry: LogEntry) => this.logKafka(entry),
      ...(options.tls ? { ssl: { ...options.tls } } : {}),
      ...(options.sasl ? { sasl: kafkajsSasl(options.sasl) } : {}),
    });
    // The same retries as the consumers' client; records land in the partitions kafkajs's default
    // partitioner would choose for their keys. Topics the broker does not create by itself are
    // created through the admin client first (ensureTopic).
    this.producer = new KafkaProducer({
      brokers: options.brokers,
      clientId: options.clientId,
      requestTimeoutMs: options.requestTimeoutMs,
      retries: 2,
      idempotent: options.idempotent ?? true,
      ...(options.maxRequestBytes !== undefined ? { maxRequestBytes: options.maxRequestBytes } : {}),
      ...(options.tls ? { tls: options.tls } : {}),
      ...(options.sasl ? { sasl: options.sasl } : {}),
    });
  }

  async publish<T>(topic: TopicDef<T>, records: PublishRecord<NoInfer<T>>[], options?: PublishOptions): Promise<void> {
    if (records.length === 0) return;
    if (this.stopping) throw new Error('message bus is stopping');
    try {
      const requestId = Correlation.forPublish(options?.causedBy);
      const wire = records.map((r): WireRecord => ({ key: r.key ?? topic.key(r.value), value: JSON.stringify(r.value), headers: Correlation.withRequestId(r.headers, requestId) }));
      // A record too large for any request fails its own publish here, before it is coalesced
      // with other publishers' records that would otherwise fail with it.
      for (const record of wire) this.producer.checkRecordSize(topic.name, record);
      await this.ensureTopic(topic);
      await this.enqueue(topic.name, wire);
    } catch (err) {
      this.observer.publishFailed(topic.name, records.length);
      throw err;
    }
    this.observer.published(topic.name, records.length);
  }

  /**
   * The records published to one topic in one turn of the event loop (say, the acknowledgements of
   * many devices read in one I/O phase) leave in one produce request, up to MAX_COALESCED records:
   * one request and one record batch per partition instead of one each, for the broker and for the
   * consumers, which then handle them as one batch. The producer splits them into requests under
   * the byte limit. Every publisher of the flush learns its outcome; the cost is one turn of the
   * event loop.
   */
  private enqueue(topic: string, records: WireRecord[]): Promise<void> {
    return new Promise((resolve, reject) => {
      let pending = this.outgoing.get(topic);
      if (!pending || pending.records.length + records.length > MAX_COALESCED) {
        const batch: OutgoingBatch = { records: [], settle: [] };
        this.outgoing.set(topic, batch);
        setImmediate(() => this.flush(topic, batch));
        pending = batch;
      }
      pending.records.push(...records);
      pending.settle.push((err) => (err === undefined ? resolve() : reject(err)));
    });
  }

  private flush(topic: string, batch: OutgoingBatch): void {
    if (this.outgoing.get(topic) === batch) this.outgoing.delete(topic);
    this.producer.send(topic, batch.records).then(
      () => batch.settle.forEach((settle) => settle()),
      (err: unknown) => batch.settle.forEach((settle) => settle(err ?? new Error('publish failed'))),
    );
  }

  async subscribe<T>(subscription: Subscription<T>): Promise<void> {
    const entry: Consuming = { subscription: subscription as Subscription<unknown>, consumer: null, joined: false, commits: null };
    this.consuming.push(entry);
    if (this.started) await this.startConsumer(entry);
  }

  async start(): Promise<void> {
    this.stopping = false;
    try {
      await this.producer.connect();
      await Promise.all(this.consuming.map((c) => this.startConsumer(c)));
    } catch (err) {
      // A stop() that came meanwhile closed what this start was connecting: not a failure.
      if (!this.stopping) throw err;
    }
    // A stop() that came while this start was waiting wins: nothing is left running.
    if (this.stopping) {
      this.producer.disconnect();
      return;
    }
    this.started = true;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const timer of this.replacing) clearTimeout(timer);
    this.replacing.clear();
    // Commits still under way go out before the consumers leave their groups.
    await Promise.allSettled(this.consuming.map((c) => c.commits?.last));
    await Promise.allSettled(
      this.consuming.map((c) => {
        if (!c.consumer) return undefined;
        this.stopped.add(c.consumer);
        return c.consumer.disconnect();
      }),
    );
    this.producer.disconnect();
    await Promise.allSettled([this.admin?.disconnect()]);
    this.started = false;
  }

  isReady(): boolean {
    return this.started && !this.stopping && this.producer.reachable && this.consuming.every((c) => c.joined);
  }

  private async startConsumer(entry: Consuming): Promise<void> {
    const { subscription } = entry;
    await this.ensureTopic(subscription.topic);
    // stop() may have come while the topic was made; it could not see a consumer not yet created.
    if (this.stopping) return;
    const consumer = this.kafka.consumer({
      groupId: subscription.group,
      sessionTimeout: this.options.sessionTimeoutMs,
      rebalanceTimeout: Math.max(this.options.sessionTimeoutMs, 3000),
      heartbeatInterval: this.options.heartbeatIntervalMs,
      maxWaitTimeInMs: this.options.maxWaitTimeMs,
      allowAutoTopicCreation: this.options.topicCreation === 'auto',
      // kafkajs restarts a crashed consumer a moment later unless restartOnFailure says no, and
      // disconnect() cancels only a restart already scheduled: a disconnect during a restart's
      // connect (say, the broker is gone) was followed by its crash and yet another restart,
      // every second for as long as the process lived. retries: kafkajs's default for consumers.
      retry: { retries: 5, restartOnFailure: async () => !this.stopped.has(consumer) },
    });
    entry.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, () => (entry.joined = true));
    consumer.on(consumer.events.CRASH, (event) => {
      entry.joined = false;
      this.logger.error({ msg: 'consumer crashed', group: subscription.group, topic: subscription.topic.name, error: errorText(event.payload.error), restart: event.payload.restart });
      // kafkajs restarts a consumer only after an error it deems retriable; after any other (no
      // group coordinator yet while a broker starts, say) it leaves it stopped for good, and this
      // service would never consume nor be ready again.
      if (!event.payload.restart && !this.stopped.has(consumer)) this.replaceLater(entry, consumer, 0);
    });
    await consumer.connect();
    await consumer.subscribe({ topic: subscription.topic.name, fromBeginning: subscription.fromBeginning ?? true });
    // A stop() during the connect disconnected this consumer already; it must not run after it.
    if (this.stopping) {
      await consumer.disconnect().catch(() => undefined);
      return;
    }
    // kafkajs hands each partition's batch of a fetch to eachBatch and fetches again only when all
    // of them were handled. With every partition of the topic taken at once (fewer took a fetch of
    // 12 partitions in rounds of 4, each waiting for the last: in the end-to-end benchmark a hop
    // cost three handler calls), the batches of one fetch arrive in the same turn of the event loop
    // and are handled as one: one handler call and one offset commit per fetch, however many
    // partitions the records came from.
    let collecting: PartitionBatch[] | null = null;
    const commits: Commits = { last: Promise.resolve() };
    entry.commits = commits;
    await consumer.run({
      partitionsConsumedConcurrently: Math.max(1, this.partitionCounts.get(subscription.topic.name) ?? this.options.partitions),
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) =>
        new Promise<void>((resolve, reject) => {
          if (payload.batch.messages.length === 0) return resolve();
          if (!collecting) {
            const round: PartitionBatch[] = [];
            collecting = round;
            setImmediate(() => {
              if (collecting === round) collecting = null;
              this.consumeRound(entry, consumer, commits, round).then(
                () => round.forEach(({ settle }) => settle()),
                (err: unknown) => round.forEach(({ settle }) => settle(err ?? new Error('batch failed'))),
              );
            });
          }
          collecting.push({ payload, settle: (err) => (err === undefined ? resolve() : reject(err)) });
        }),
    });
  }

  /** Starts a new consumer in place of one that crashed for good; again, with backoff, until one starts. */
  private replaceLater(entry: Consuming, crashed: Consumer, attempt: number): void {
    const timer = setTimeout(() => {
      this.replacing.delete(timer);
      if (this.stopping || entry.consumer !== crashed) return;
      this.stopped.add(crashed);
      void crashed
        .disconnect()
        .catch(() => undefined)
        .then(() => {
          this.logger.warn({ msg: 'starting a new consumer in place of the crashed one', group: entry.subscription.group, topic: entry.subscription.topic.name, attempt });
          return this.startConsumer(entry);
        })
        .catch((err: unknown) => {
          this.logger.error({ msg: 'consumer not started; trying again', group: entry.subscription.group, error: errorText(err) });
          if (entry.consumer) this.replaceLater(entry, entry.consumer, attempt + 1);
        });
    }, 500 + backoffDelay(attempt, 1000, 30_000));
    timer.unref();
    this.replacing.add(timer);
  }

  /**
   * Handles the batches of one fetch (different partitions of the subscription's topic) in one
   * handler call, their records concatenated in partition order (each partition's in offset order,
   * so per-key order holds), then commits every partition's offset in one request. The offsets are
   * committed only after the effect: the handler succeeded, or its bad input was dead-lettered. A
   * handler that gives up (stopping, rebalancing, a partition sought elsewhere) commits nothing, and
   * every batch of the round is consumed again.
   */
  private async consumeRound(entry: Consuming, consumer: Consumer, commits: Commits, round: PartitionBatch[]): Promise<void> {
    const { subscription } = entry;
    const { group } = subscription;
    const batches = round.map(({ payload }) => payload).sort((a, b) => a.batch.partition - b.batch.partition);
    const topic = subscription.topic.name;
    // An earlier round's commit failed: thrown here, before these records are handled or resolved,
    // kafkajs retries or restarts the consumer as it did when the commit itself threw.
    if (commits.failure !== undefined) {
      const failure = commits.failure;
      commits.failure = undefined;
      throw failure;
    }
    const raw: RawRecord[] = batches.flatMap(({ batch }) =>
      batch.messages.map((m) => ({
        topic: batch.topic,
        partition: batch.partition,
        offset: m.offset,
        key: m.key ? m.key.toString('utf8') : null,
        headers: headersToStrings(m.headers),
        value: m.value ?? Buffer.alloc(0),
      })),
    );
    const { messages, rejected } = decodeRecords(subscription.topic, raw);
    // The group's heartbeat is the consumer's, whichever batch asks for it.
    const { heartbeat } = batches[0]!;
    let dead: DeadLetter[];
    const started = performance.now();
    try {
      dead = [
        ...rejected,
        ...(await Correlation.run(Correlation.ofBatch(messages), () =>
          runHandler(subscription.handler, messages, {
            maxAttempts: Infinity,
            delay: (attempt) => backoffDelay(attempt, 100, 5000),
            sleep: async (ms) => {
              await sleep(ms);
              await heartbeat();
            },
            isStopping: () => this.stopping || batches.some(({ isRunning, isStale }) => !isRunning() || isStale()),
            onRetry: () => this.observer.retried(topic, group),
          }),
        )),
      ];
    } catch (err) {
      if (messages.length > 0) this.observer.handled(topic, group, messages.length, (performance.now() - started) / 1000, 'failed');
      // Stopping or rebalancing: leave the offsets uncommitted; the batches are consumed again.
      this.logger.warn({ msg: 'batch abandoned, will be consumed again', group, topic, partitions: batches.map(({ batch }) => batch.partition), error: errorText(err) });
      return;
    }
    if (messages.length > 0) this.observer.handled(topic, group, messages.length, (performance.now() - started) / 1000, 'ok');
    if (dead.length > 0) {
      await this.deadLetter(group, dead);
      this.observer.deadLettered(topic, group, dead.length);
    }
    const offsets = batches.map(({ batch, resolveOffset }) => {
      const last = batch.lastOffset();
      resolveOffset(last);
      return { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() };
    });
    // The commit does not hold up kafkajs's next fetch: the next round is fetched and handled while
    // it is under way (a commit took about a fifth of push-core's round on the loaded benchmark
    // machine). It still follows the effect, and the commits of a consumer leave one at a time, so
    // a later offset is never overwritten by an earlier one.
    const commit = commits.last
      .then(() => consumer.commitOffsets(offsets))
      .then(
        () => {
          for (const { batch } of batches) this.observer.lag(topic, group, batch.partition, Math.max(0, Number(batch.offsetLag())));
        },
        (err: unknown) => {
          if (lostGroupMembership(err)) {
            // The group moved on while this batch ran (session expired, rebalance): the partitions'
            // new owners consume the batch again from the last commit; the next heartbeat rejoins.
            this.logger.warn({ msg: 'batch handled but not committed: the group moved on meanwhile; it will be consumed again', group, topic, partitions: offsets.map((o) => o.partition), error: errorText(err) });
            return;
          }
          this.logger.error({ msg: 'offsets not committed; the batch will be consumed again after a restart', group, topic, partitions: offsets.map((o) => o.partition), error: errorText(err) });
          commits.failure = err;
        },
      )
      // Nobody may wait for the last commit: the chain must not end in a rejection (say, from the observer).
      .catch((err: unknown) => void (commits.failure = err));
    commits.last = commit;
    // Stopping: the consumer leaves its group only after this commit.
    if (this.stopping || batches.some(({ isRunning }) => !isRunning())) await commit;
  }

  private async deadLetter(group: string, dead: DeadLetter[]): Promise<void> {
    const records = dead.map(({ record, reason }): { value: DeadLetterV1; headers: Record<string, string> } => {
      const requestId = record.headers[REQUEST_ID_HEADER];
      this.logger.warn({ msg: 'dead-lettered', topic: record.topic, partition: record.partition, offset: record.offset, group, requestId, reason });
      const value = typeof record.value === 'string' ? record.value : utf8OrBase64(record.value);
      const letter: DeadLetterV1 = { topic: record.topic, partition: record.partition, offset: record.offset, consumerGroup: group, key: record.key, reason, value, atMs: Date.now() };
      return { value: this.fitted(letter), headers: requestId ? { [REQUEST_ID_HEADER]: requestId } : {} };
    });
    await this.publish(Topics.deadLetter, records);
  }

  /**
   * The letter with its value cut so that it fits in a produce request: a record near the size
   * limit grows when it is quoted into a letter, and a letter the producer refuses would fail the
   * batch again and again, blocking its partition for good.
   */
  private fitted(letter: DeadLetterV1): DeadLetterV1 {
    // Room for the key (the original's) and the headers besides the JSON of the letter.
    const limit = this.producer.maxRecordBytes(Topics.deadLetter.name) - 2 * Buffer.byteLength(letter.key ?? '') - 1024;
    const size = Buffer.byteLength(JSON.stringify(letter));
    if (size <= limit) return letter;
    let value = letter.value;
    while (value.length > 0 && Buffer.byteLength(JSON.stringify({ ...letter, value })) > limit) value = value.slice(0, Math.floor(value.length * 0.9));
    return { ...letter, value, reason: `${letter.reason} (value cut to ${Buffer.byteLength(value)} of ${Buffer.byteLength(letter.value)} bytes to fit KAFKA_MAX_REQUEST_BYTES)` };
  }

  private ensureTopic<T>(topic: TopicDef<T>): Promise<void> {
    if (this.options.topicCreation === 'auto') return Promise.resolve();
    let pending = this.ensured.get(topic.name);
    if (!pending) {
      pending = this.createTopic(topic).catch((err) => {
        this.ensured.delete(topic.name);
        throw err;
      });
      this.ensured.set(topic.name, pending);
    }
    return pending;
  }

  private async createTopic<T>(topic: TopicDef<T>): Promise<void> {
    if (!this.admin) {
      const created = this.kafka.admin();
      this.admin = created;
      // Topics are made concurrently: every one waits for the same connect; a failed one is retried.
      this.adminConnected = created.connect().catch((err: unknown) => {
        if (this.admin === created) this.admin = null;
        throw err;
      });
    }
    const admin = this.admin;
    await this.adminConnected;
    for (let attempt = 0; ; attempt++) {
      try {
        const existing = await admin.listTopics();
        if (existing.includes(topic.name)) {
          // Maybe just made by another service starting beside this one: the consumers' subscribe
          // fails on a topic whose partitions the broker's metadata does not list yet.
          await this.waitForLeaders(admin, topic.name);
          return;
        }
        await admin.createTopics({
          waitForLeaders: true,
          topics: [
            {
              topic: topic.name,
              numPartitions: this.options.partitions,
              replicationFactor: this.options.replicationFactor,
              configEntries: topic.compacted ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
            },
          ],
        });
        // createTopics answers false, without waiting, when another service made it meanwhile.
        await this.waitForLeaders(admin, topic.name);
        this.logger.log({ msg: 'created topic', topic: topic.name, partitions: this.options.partitions });
        return;
      } catch (err) {
        // A topic just created (by this service or another one starting beside it) is unknown to
        // the broker's metadata for a moment, and kafkajs's wait for its leaders fails on that. A
        // broker busy creating many topics at once (every service starting together) may not
        // answer CreateTopics within the request timeout: the next round finds the topic made.
        const type = (err as { type?: string }).type;
        const transient = type === 'UNKNOWN_TOPIC_OR_PARTITION' || type === 'LEADER_NOT_AVAILABLE' || type === 'TOPIC_ALREADY_EXISTS' || isRequestTimeout(err);
        if (attempt >= 5 || !transient) throw err;
        this.logger.warn({ msg: 'topic not ready yet; trying again', topic: topic.name, attempt: attempt + 1, error: errorText(err) });
        await sleep(backoffDelay(attempt, 100, 1000));
      }
    }
  }

  private async waitForLeaders(admin: Admin, topic: string): Promise<void> {
    const deadline = Date.now() + 3 * this.options.requestTimeoutMs;
    let last = 'no partitions listed';
    for (let attempt = 0; ; attempt++) {
      try {
        const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
        const partitions = topics.find((t) => t.name === topic)?.partitions ?? [];
        if (partitions.length > 0 && partitions.every((p) => p.leader >= 0)) {
          this.partitionCounts.set(topic, partitions.length);
          return;
        }
        last = `${partitions.filter((p) => p.leader < 0).length} of ${partitions.length} partitions without a leader`;
      } catch (err) {
        const type = (err as { type?: string }).type;
        if (type !== 'UNKNOWN_TOPIC_OR_PARTITION' && type !== 'LEADER_NOT_AVAILABLE') throw err;
        last = type;
      }
      if (Date.now() > deadline) throw new Error(`topic ${topic} not ready after ${attempt + 1} metadata requests: ${last}`);
      await sleep(backoffDelay(attempt, 100, 1000));
    }
  }

  private logKafka(entry: LogEntry): void {
    const { message, ...rest } = entry.log;
    const line = { msg: `kafkajs: ${message}`, namespace: entry.namespace, ...rest };
    if (entry.level <= logLevel.ERROR) this.logger.error(line);
    else this.logger.warn(line);
  }
}

function kafkajsSasl({ mechanism, username, password }: KafkaSaslOptions): SASLOptions {
  switch (mechanism) {
    case 'plain':
      return { mechanism, username, password };
    case 'scram-sha-256':
      return { mechanism, username, password };
    case 'scram-sha-512':
      return { mechanism, username, password };
  }
}

/** An offset commit refused because this member is no longer in the group's current generation. */
function lostGroupMembership(err: unknown): boolean {
  for (let e = err as { type?: string; cause?: unknown } | null | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.type === 'UNKNOWN_MEMBER_ID' || e.type === 'ILLEGAL_GENERATION' || e.type === 'REBALANCE_IN_PROGRESS') return true;
  }
  return false;
}

function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) out[name] = first.toString();
  }
  return out;
}

function utf8OrBase64(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : `base64:${bytes.toString('base64')}`;
}

/** A Kafka request that got no answer in time (kafkajs's own error, or its retries of one). */
function isRequestTimeout(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = (e as { cause?: unknown; originalError?: unknown }).originalError ?? e.cause, depth++) {
    if (e.name === 'KafkaJSRequestTimeoutError') return true;
  }
  return false;
}
