import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { sleep } from '@borealis/util';
import { KafkaAuthenticationError, kafkaMechanismName, saslExchange, type KafkaSaslOptions } from './kafka-sasl';
import {
  ApiKey,
  apiVersionsRequest,
  CLIENT_VERSIONS,
  decodeApiVersions,
  decodeInitProducerId,
  decodeMetadata,
  decodeProduceResponse,
  decodeSaslAuthenticate,
  decodeSaslHandshake,
  encodeProduceRequest,
  initProducerIdRequest,
  KafkaProtocolError,
  kafkaErrorName,
  metadataRequest,
  partitionForKey,
  PRODUCE_PARTITION_OVERHEAD,
  produceRequestOverhead,
  RECORD_BATCH_OVERHEAD,
  recordBytes,
  requestHeader,
  saslAuthenticateRequest,
  saslHandshakeRequest,
  sizeRecord,
  type ApiKeyName,
  type ApiVersionRange,
  type BrokerAddress,
  type ProducerStamp,
  type SizedBatch,
  type SizedRecord,
  type WireRecord,
} from './kafka-wire';

/** TLS to the brokers: PEM contents (not paths), as node:tls takes them. */
export interface KafkaTlsOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** false accepts any certificate (never in production). */
  rejectUnauthorized: boolean;
}

export interface KafkaProducerOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  clientId: string;
  /** How long one request (and a connection attempt, at most 3 s) may take. */
  requestTimeoutMs: number;
  /** Further attempts of a batch after a connection failure or a retriable broker error. */
  retries: number;
  /** Exactly once per partition across retries (producer id and sequences); default true. */
  idempotent?: boolean;
  /** The largest produce request (the broker's message.max.bytes); default 1048588. */
  maxRequestBytes?: number;
  tls?: KafkaTlsOptions;
  sasl?: KafkaSaslOptions;
}

/** No connection to a broker, or it closed while a request waited for its answer. */
export class KafkaConnectionError extends Error {
  override name = 'KafkaConnectionError';
}

/** A broker did not answer in time; the records may or may not have been written. */
export class KafkaTimeoutError extends Error {
  override name = 'KafkaTimeoutError';
}

/** TLS with a broker failed (certificate refused either way): retrying cannot help. */
export class KafkaTlsError extends Error {
  override name = 'KafkaTlsError';
}

/** A broker supports none of the versions this client speaks of an API it needs. */
export class KafkaUnsupportedVersionError extends Error {
  override name = 'KafkaUnsupportedVersionError';
}

/** One record cannot fit in a produce request of the configured size. */
export class KafkaRecordTooLargeError extends Error {
  override name = 'KafkaRecordTooLargeError';
}

/** Kafka's default: message.max.bytes (1 MiB) plus the 12-byte log overhead of a batch. */
export const DEFAULT_MAX_REQUEST_BYTES = 1_048_588;
/** Kafka's bound for an idempotent producer: the broker remembers the last five batches per partition. */
export const MAX_IN_FLIGHT_PER_PARTITION = 5;
/** Required by InitProducerId, meaningless without transactions: the Java client's default. */
const TRANSACTION_TIMEOUT_MS = 60_000;

const OUT_OF_ORDER_SEQUENCE_NUMBER = 45;
const DUPLICATE_SEQUENCE_NUMBER = 46;
const INVALID_PRODUCER_EPOCH = 47;
const UNKNOWN_PRODUCER_ID = 59;

/**
 * The version of each API to use with a broker: the highest both support. Throws a
 * KafkaUnsupportedVersionError naming the broker, the API and both ranges when there is none.
 */
export function negotiateVersions(where: string, broker: readonly ApiVersionRange[], needed: readonly ApiKeyName[]): Map<number, number> {
  const versions = new Map<number, number>();
  for (const name of needed) {
    const [min, max] = CLIENT_VERSIONS[name];
    const theirs = broker.find((a) => a.apiKey === ApiKey[name]);
    if (!theirs) throw new KafkaUnsupportedVersionError(`Kafka broker ${where} does not support ${name} (API key ${ApiKey[name]}) at all; this client needs versions ${min}-${max}`);
    const version = Math.min(max, theirs.maxVersion);
    if (version < Math.max(min, theirs.minVersion)) {
      throw new KafkaUnsupportedVersionError(
        `Kafka broker ${where} supports ${name} (API key ${ApiKey[name]}) versions ${theirs.minVersion}-${theirs.maxVersion}; this client speaks ${min}-${max}`,
      );
    }
    versions.set(ApiKey[name], version);
  }
  return versions;
}

interface ConnectionSettings {
  clientId: string;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  needed: readonly ApiKeyName[];
  tls?: ConnectionOptions;
  sasl?: KafkaSaslOptions;
}

interface Pending {
  resolve: (body: Buffer) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

const TLS_CERTIFICATE_CODES = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|HOSTNAME|ALTNAME/;

/** What a socket error means to the caller: TLS failures are not worth retrying; the rest may be. */
function socketError(where: string, err: NodeJS.ErrnoException, tls: boolean): Error {
  const code = err.code ?? '';
  if (tls && TLS_CERTIFICATE_CODES.test(code)) {
    let hint = '';
    if (/CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|BAD_CERTIFICATE|UNKNOWN_CA/.test(code)) hint = '; the broker refused this client: it may require a client certificate (KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE) signed by a CA it trusts';
    else if (/SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|CERT_UNTRUSTED/.test(code)) hint = "; the broker's certificate is not signed by a trusted CA: set KAFKA_SSL_CA_FILE to the CA that signed it";
    else if (/ALTNAME|HOSTNAME/.test(code)) hint = "; the broker's certificate does not name the address in KAFKA_BROKERS";
    return new KafkaTlsError(`TLS with Kafka broker ${where} failed: ${err.message} (${code})${hint}`);
  }
  return new KafkaConnectionError(`connection to Kafka broker ${where} failed: ${err.message}`);
}

/**
 * One connection to a broker: TCP or TLS, then ApiVersions (the versions to use are chosen here),
 * then SASL when configured. Requests are pipelined and answers matched by correlation id; the
 * broker handles one connection's requests in order, which keeps a partition's batches in order.
 */
class BrokerConnection {
  private readonly pending = new Map<number, Pending>();
  private nextCorrelationId = 1;
  private received: Buffer[] = [];
  private receivedBytes = 0;
  private lastSocketError: NodeJS.ErrnoException | null = null;
  private versions = new Map<number, number>([[ApiKey.ApiVersions, 0]]);
  closed = false;
  onClose: (() => void) | null = null;

  private constructor(
    private readonly socket: Socket,
    readonly where: string,
    private readonly settings: ConnectionSettings,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => (this.lastSocketError ??= err)); // 'close' follows and fails what is pending
    socket.on('close', () => {
      const cause = this.lastSocketError;
      this.fail(cause ? socketError(where, cause, !!settings.tls) : new KafkaConnectionError(`connection to Kafka broker ${where} closed`));
      this.onClose?.();
    });
  }

  static async open(host: string, port: number, settings: ConnectionSettings): Promise<BrokerConnection> {
    const where = `${host}:${port}`;
    const socket = await connectSocket(host, port, where, settings);
    const connection = new BrokerConnection(socket, where, settings);
    try {
      await connection.negotiate();
      if (settings.sasl) await connection.authenticate(settings.sasl);
    } catch (err) {
      connection.close();
      throw err;
    }
    return connection;
  }

  /** The version negotiated for `apiKey` on this connection. */
  version(apiKey: number): number {
    const v = this.versions.get(apiKey);
    if (v === undefined) throw new Error(`no version negotiated for API key ${apiKey} with ${this.where}`);
    return v;
  }

  /** The versions this connection uses, by API name (for diagnostics and tests). */
  negotiated(): Partial<Record<ApiKeyName, number>> {
    const out: Partial<Record<ApiKeyName, number>> = {};
    for (const name of Object.keys(ApiKey) as ApiKeyName[]) {
      const v = this.versions.get(ApiKey[name]);
      if (v !== undefined) out[name] = v;
    }
    return out;
  }

  private async negotiate(): Promise<void> {
    let body: Buffer;
    try {
      body = await this.request(ApiKey.ApiVersions, apiVersionsRequest(), this.settings.requestTimeoutMs);
    } catch (err) {
      if (err instanceof KafkaConnectionError && !this.lastSocketError) {
        throw new KafkaConnectionError(`${err.message} before it answered ApiVersions (a TLS listener reached without KAFKA_SSL=true, or the reverse?)`);
      }
      throw err;
    }
    const { errorCode, apis } = decodeApiVersions(body);
    // UNSUPPORTED_VERSION still lists the broker's versions; anything else is a broken answer.
    if (errorCode !== 0 && errorCode !== 35) throw new KafkaProtocolError(errorCode, `ApiVersions at ${this.where}`);
    this.versions = negotiateVersions(this.where, apis, ['ApiVersions', ...this.settings.needed]);
  }

  private async authenticate(sasl: KafkaSaslOptions): Promise<void> {
    const mechanism = kafkaMechanismName(sasl.mechanism);
    const timeout = this.settings.requestTimeoutMs;
    const handshake = decodeSaslHandshake(await this.request(ApiKey.SaslHandshake, saslHandshakeRequest(mechanism), timeout));
    if (handshake.errorCode === 33) {
      throw new KafkaAuthenticationError(`Kafka broker ${this.where} does not enable SASL mechanism ${mechanism} (it enables: ${handshake.mechanisms.join(', ') || 'none'})`);
    }
    if (handshake.errorCode !== 0) throw new KafkaAuthenticationError(`SaslHandshake with Kafka broker ${this.where} failed: ${kafkaErrorName(handshake.errorCode)}`);
    const exchange = saslExchange(sasl);
    const failed = (why: string) => new KafkaAuthenticationError(`SASL ${mechanism} authentication as "${sasl.username}" with Kafka broker ${this.where} failed: ${why}`);
    let message: Buffer | null = exchange.start();
    while (message) {
      let answer: ReturnType<typeof decodeSaslAuthenticate>;
      try {
        answer = decodeSaslAuthenticate(await this.request(ApiKey.SaslAuthenticate, saslAuthenticateRequest(message), timeout));
      } catch (err) {
        // A broker that rejects the credentials may close before its answer is read.
        if (err instanceof KafkaConnectionError) throw failed(`the broker closed the connection (${err.message})`);
        throw err;
      }
      if (answer.errorCode !== 0) throw failed(answer.errorMessage ?? kafkaErrorName(answer.errorCode));
      try {
        message = exchange.next(answer.authBytes);
      } catch (err) {
        throw failed(err instanceof Error ? err.message : String(err));
      }
    }
  }

  request(apiKey: number, body: Buffer, timeoutMs: number): Promise<Buffer> {
    if (this.closed) return Promise.reject(new KafkaConnectionError(`connection to Kafka broker ${this.where} closed`));
    const apiVersion = this.version(apiKey);
    const correlationId = this.nextCorrelationId;
    this.nextCorrelationId = (this.nextCorrelationId + 1) | 0 || 1;
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(correlationId);
        reject(new KafkaTimeoutError(`Kafka broker ${this.where} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(correlationId, { resolve, reject, timer });
      // Header and body leave in one writev, without copying the body.
      this.socket.cork();
      this.socket.write(requestHeader(apiKey, apiVersion, correlationId, this.settings.clientId, body.length));
      this.socket.write(body);
      this.socket.uncork();
    });
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.received.push(chunk);
    this.receivedBytes += chunk.length;
    while (this.receivedBytes >= 4) {
      let buffered = this.received.length === 1 ? this.received[0]! : Buffer.concat(this.received, this.receivedBytes);
      const size = buffered.readInt32BE(0);
      if (this.receivedBytes < 4 + size) {
        this.received = [buffered];
        return;
      }
      const frame = buffered.subarray(4, 4 + size);
      buffered = buffered.subarray(4 + size);
      this.received = buffered.length > 0 ? [buffered] : [];
      this.receivedBytes = buffered.length;
      const entry = this.pending.get(frame.readInt32BE(0));
      if (!entry) continue; // timed out already
      this.pending.delete(frame.readInt32BE(0));
      clearTimeout(entry.timer);
      entry.resolve(frame.subarray(4));
    }
  }

  private fail(err: Error): void {
    this.closed = true;
    for (const entry of this.pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(err);
    }
    this.pending.clear();
  }
}

function connectSocket(host: string, port: number, where: string, settings: ConnectionSettings): Promise<Socket> {
  const { tls, connectTimeoutMs } = settings;
  return new Promise((resolve, reject) => {
    // SNI only for names: node refuses an IP address as a server name.
    const socket = tls ? tlsConnect({ ...tls, host, port, ...(isIP(host) ? {} : { servername: host }) }) : netConnect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new KafkaConnectionError(`no connection to Kafka broker ${where} within ${connectTimeoutMs} ms`));
    }, connectTimeoutMs);
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(socketError(where, err, !!tls));
    });
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

/** Records of one send() for one partition, under the request size; written and retried as one. */
interface Batch {
  lane: Lane;
  /** Creation order: a partition's batches are written in this order, retries included. */
  order: number;
  sized: SizedBatch;
  timestampMs: number;
  /** Failed attempts so far. */
  attempts: number;
  /** Producer id, epoch and first sequence, fixed when first sent (idempotent only). */
  stamp: ProducerStamp | null;
  settle: (err?: Error) => void;
}

/** The batches of one partition: queued in order, at most MAX_IN_FLIGHT_PER_PARTITION in flight. */
class Lane {
  nextSequence = 0;
  readonly queue: Batch[] = [];
  readonly inFlight: Batch[] = [];
  /** After a failure, nothing more leaves until every batch in flight came back; then in order again. */
  holding = false;
  retryAt = 0;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}

  requeue(batch: Batch): void {
    let at = 0;
    while (at < this.queue.length && this.queue[at]!.order < batch.order) at++;
    this.queue.splice(at, 0, batch);
  }

  hasEarlier(batch: Batch): boolean {
    return this.inFlight.some((b) => b.order < batch.order) || this.queue.some((b) => b.order < batch.order);
  }
}

interface OpenRequest {
  leader: number;
  topic: string;
  batches: Batch[];
  bytes: number;
}

/**
 * A Kafka producer for the hot publish path, on the wire protocol directly (`kafka-wire.ts`):
 * ApiVersions on every connection, TLS and SASL (PLAIN, SCRAM-SHA-256/512) when configured,
 * Metadata to find each partition's leader, and Produce with one RecordBatch per partition.
 * Records go to the partition kafkajs's default partitioner would pick for their key, so per-key
 * order does not depend on which client wrote.
 *
 * Each partition has a lane: its batches leave in order, at most five in flight, one per produce
 * request, and requests to one leader carry the batches of many partitions up to the byte limit.
 * `send` resolves only when every batch was acknowledged by all in-sync replicas; a connection
 * failure, a timeout or a retriable broker error puts the batch back in its lane, in order, and it
 * is tried again up to `retries` times after a metadata refresh.
 *
 * Idempotent (the default): a producer id and epoch from InitProducerId, and a sequence number per
 * partition in every batch, so the broker writes a retried batch whose first answer was lost only
 * once (it answers the retry as a duplicate). A broker that no longer knows the producer
 * (UNKNOWN_PRODUCER_ID), fenced its epoch (INVALID_PRODUCER_EPOCH) or saw a gap in the sequence
 * no earlier batch of ours can fill (OUT_OF_ORDER_SEQUENCE_NUMBER, after a batch failed for good)
 * makes the producer wait for its requests in flight, take a new producer id and number the
 * unwritten batches from 0 again. Not idempotent, a retry after a lost answer may write twice, and
 * a timeout is not retried.
 */
export class KafkaProducer {
  private readonly bootstrap: { host: string; port: number }[];
  private readonly brokers = new Map<number, BrokerAddress>();
  private readonly connections = new Map<number, { promise: Promise<BrokerConnection>; connection: BrokerConnection | null }>();
  private readonly leaders = new Map<string, Promise<number[]>>();
  private readonly leaderCache = new Map<string, number[]>();
  private readonly refreshing = new Set<string>();
  private readonly lanes = new Map<string, Map<number, Lane>>();
  private metadataConnection: Promise<BrokerConnection> | null = null;
  private readonly idempotent: boolean;
  private readonly maxRequestBytes: number;
  private readonly settings: ConnectionSettings;
  private identity: { producerId: bigint; producerEpoch: number } | null = null;
  private identityPending: Promise<void> | null = null;
  private resetRequested = false;
  private drainScheduled = false;
  private drainTimer: NodeJS.Timeout | null = null;
  private drainTimerAt = 0;
  private batchOrder = 0;
  private stopped = true;
  /** False after an attempt to reach the brokers failed, until one succeeds again. */
  reachable = false;

  constructor(private readonly options: KafkaProducerOptions) {
    this.bootstrap = options.brokers.map((b) => {
      const at = b.lastIndexOf(':');
      return { host: b.slice(0, at), port: Number(b.slice(at + 1)) };
    });
    this.idempotent = options.idempotent ?? true;
    this.maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    const needed: ApiKeyName[] = ['Metadata', 'Produce'];
    if (this.idempotent) needed.push('InitProducerId');
    if (options.sasl) needed.push('SaslHandshake', 'SaslAuthenticate');
    const { tls } = options;
    this.settings = {
      clientId: options.clientId,
      connectTimeoutMs: Math.min(options.requestTimeoutMs, 3000),
      requestTimeoutMs: options.requestTimeoutMs,
      needed,
      ...(tls ? { tls: { rejectUnauthorized: tls.rejectUnauthorized, ...(tls.ca ? { ca: tls.ca } : {}), ...(tls.cert ? { cert: tls.cert } : {}), ...(tls.key ? { key: tls.key } : {}) } } : {}),
      ...(options.sasl ? { sasl: options.sasl } : {}),
    };
  }

  async connect(): Promise<void> {
    this.stopped = false;
    await this.track(this.metadata([]));
    if (this.idempotent) await this.ensureIdentity();
  }

  disconnect(): void {
    this.stopped = true;
    this.reachable = false;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = null;
    const stopped = new Error('Kafka producer stopped');
    for (const lane of this.allLanes()) for (const batch of lane.queue.splice(0)) batch.settle(stopped);
    const all = [...[...this.connections.values()].map((c) => c.promise), ...(this.metadataConnection ? [this.metadataConnection] : [])];
    this.connections.clear();
    this.leaders.clear();
    this.leaderCache.clear();
    this.metadataConnection = null;
    for (const c of all) c.then((conn) => conn.close(), () => undefined);
  }

  /** The versions negotiated with the broker metadata requests go to (diagnostics, tests). */
  async apiVersions(): Promise<Partial<Record<ApiKeyName, number>>> {
    const connection = await this.anyConnection();
    return connection.negotiated();
  }

  /** The largest record (as encoded in a batch) that fits in one produce request to `topic`. */
  maxRecordBytes(topic: string): number {
    return this.maxBatchBytes(topic) - RECORD_BATCH_OVERHEAD;
  }

  /** Throws a KafkaRecordTooLargeError for a record that cannot fit in any produce request. */
  checkRecordSize(topic: string, record: WireRecord): void {
    const bytes = recordBytes(sizeRecord(record, 0));
    const max = this.maxRecordBytes(topic);
    if (bytes > max) {
      throw new KafkaRecordTooLargeError(`a record of ${bytes} bytes (key ${JSON.stringify(record.key.slice(0, 100))}) for ${topic} exceeds the ${max} bytes a produce request of at most ${this.maxRequestBytes} bytes (KAFKA_MAX_REQUEST_BYTES) leaves for one record`);
    }
  }

  /** Writes the records (acks -1: all in-sync replicas) and resolves once every one is. */
  async send(topic: string, records: readonly WireRecord[]): Promise<void> {
    if (this.stopped) throw new Error('Kafka producer is not connected');
    if (records.length === 0) return;
    for (const record of records) this.checkRecordSize(topic, record);
    const leaders = await this.track(this.leadersOf(topic));
    if (!this.leaderCache.has(topic)) this.leaderCache.set(topic, leaders);
    const byPartition = new Map<number, WireRecord[]>();
    for (const record of records) {
      const partition = partitionForKey(record.key, leaders.length);
      const list = byPartition.get(partition);
      if (list) list.push(record);
      else byPartition.set(partition, [record]);
    }
    const timestampMs = Date.now();
    const maxBatch = this.maxBatchBytes(topic);
    const outcomes: Promise<Error | undefined>[] = [];
    for (const [partition, list] of byPartition) {
      const lane = this.lane(topic, partition);
      for (const sized of splitBatches(list, maxBatch)) {
        outcomes.push(
          new Promise((resolve) => {
            lane.queue.push({ lane, order: this.batchOrder++, sized, timestampMs, attempts: 0, stamp: null, settle: resolve });
          }),
        );
      }
    }
    this.scheduleDrain();
    // Every batch settles before the caller hears: none is still being retried after a rejection.
    const errors = (await Promise.all(outcomes)).filter((e): e is Error => e !== undefined);
    if (errors.length > 0) throw errors[0];
  }

  private maxBatchBytes(topic: string): number {
    return this.maxRequestBytes - produceRequestOverhead(topic, this.options.clientId) - PRODUCE_PARTITION_OVERHEAD;
  }

  private lane(topic: string, partition: number): Lane {
    let lanes = this.lanes.get(topic);
    if (!lanes) this.lanes.set(topic, (lanes = new Map()));
    let lane = lanes.get(partition);
    if (!lane) lanes.set(partition, (lane = new Lane(topic, partition)));
    return lane;
  }

  private *allLanes(): Iterable<Lane> {
    for (const lanes of this.lanes.values()) yield* lanes.values();
  }

  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    // After the current synchronous work: the batches of one send (and of sends resumed in the
    // same turn) leave together, one request per leader.
    queueMicrotask(() => this.drain());
  }

  private drainAt(at: number): void {
    if (this.drainTimer && this.drainTimerAt <= at) return;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimerAt = at;
    this.drainTimer = setTimeout(
      () => {
        this.drainTimer = null;
        this.drain();
      },
      Math.max(0, at - Date.now()),
    );
  }

  /** Moves the batches that may leave now into produce requests, and sends them. */
  private drain(): void {
    this.drainScheduled = false;
    if (this.stopped) return;
    if (this.idempotent) {
      if (this.resetRequested) {
        for (const lane of this.allLanes()) if (lane.inFlight.length > 0) return; // drained again as they come back
        this.resetIdentity();
      }
      if (!this.identity) {
        this.ensureIdentity().catch(() => undefined);
        return;
      }
    }
    const requests: OpenRequest[] = [];
    /** The request each lane's last batch went into: its next batch must go into a later one. */
    const lastRequest = new Map<Lane, number>();
    const now = Date.now();
    for (let moved = true; moved; ) {
      moved = false;
      for (const lane of this.allLanes()) {
        if (lane.queue.length === 0) continue;
        if (lane.holding) {
          if (lane.inFlight.length > 0) continue;
          lane.holding = false;
        }
        if (lane.inFlight.length >= MAX_IN_FLIGHT_PER_PARTITION) continue;
        if (lane.retryAt > now) {
          this.drainAt(lane.retryAt);
          continue;
        }
        const leader = this.leaderCache.get(lane.topic)?.[lane.partition];
        if (leader === undefined || !this.brokers.has(leader)) {
          this.refreshLeaders(lane.topic);
          continue;
        }
        const batch = lane.queue.shift()!;
        if (this.identity && !batch.stamp) {
          batch.stamp = { ...this.identity, baseSequence: lane.nextSequence };
          // Sequences wrap at 2^31 - 1 (Kafka's rule).
          lane.nextSequence = (lane.nextSequence + batch.sized.records.length) % 0x8000_0000;
        }
        lane.inFlight.push(batch);
        lastRequest.set(lane, this.addToRequest(requests, leader, batch, (lastRequest.get(lane) ?? -1) + 1));
        moved = true;
      }
    }
    for (const request of requests) void this.dispatch(request);
  }

  /** Puts the batch into the first request from `from` on with room for it; returns that request's index. */
  private addToRequest(requests: OpenRequest[], leader: number, batch: Batch, from: number): number {
    const bytes = PRODUCE_PARTITION_OVERHEAD + batch.sized.size;
    const { topic } = batch.lane;
    for (let i = from; i < requests.length; i++) {
      const r = requests[i]!;
      if (r.leader === leader && r.topic === topic && r.bytes + bytes <= this.maxRequestBytes) {
        r.batches.push(batch);
        r.bytes += bytes;
        return i;
      }
    }
    requests.push({ leader, topic, batches: [batch], bytes: produceRequestOverhead(topic, this.options.clientId) + bytes });
    return requests.length - 1;
  }

  private async dispatch({ leader, topic, batches }: OpenRequest): Promise<void> {
    let connection: BrokerConnection | null = null;
    let results: ReturnType<typeof decodeProduceResponse>;
    try {
      connection = await this.track(this.connectionTo(leader));
      const body = encodeProduceRequest(
        topic,
        batches.map((b) => ({ partition: b.lane.partition, batch: b.sized, timestampMs: b.timestampMs, ...(b.stamp ? { producer: b.stamp } : {}) })),
        -1,
        this.options.requestTimeoutMs,
      );
      const version = connection.version(ApiKey.Produce);
      results = decodeProduceResponse(await this.track(connection.request(ApiKey.Produce, body, this.options.requestTimeoutMs)), version);
    } catch (err) {
      // An answer that did not come in time may still come: close, so that whatever else is in
      // flight on this connection fails too and goes out again in order on a new one.
      if (err instanceof KafkaTimeoutError) connection?.close();
      const error = err instanceof Error ? err : new Error(String(err));
      const retriable = isRetriable(error) && !(error instanceof KafkaTimeoutError && !this.idempotent);
      for (const batch of batches) this.retryOrFail(batch, error, retriable);
      if (retriable) this.refreshLeaders(topic);
      this.scheduleDrain();
      return;
    }
    const byPartition = new Map(results.map((r) => [r.partition, r]));
    for (const batch of batches) {
      const result = byPartition.get(batch.lane.partition);
      if (!result) this.retryOrFail(batch, new KafkaProtocolError(-1, `${topic}/${batch.lane.partition} at ${connection.where}`, 'no answer for this partition'), false);
      else this.onResult(batch, result.errorCode, `${topic}/${batch.lane.partition} at ${connection.where}`, result.errorMessage);
    }
    this.scheduleDrain();
  }

  private onResult(batch: Batch, code: number, where: string, message?: string): void {
    const { lane } = batch;
    removeFrom(lane.inFlight, batch);
    // A duplicate is a retry of a batch the broker had written: its first answer was lost.
    if (code === 0 || (code === DUPLICATE_SEQUENCE_NUMBER && batch.stamp)) {
      batch.settle();
      return;
    }
    const error = new KafkaProtocolError(code, where, message);
    if (this.idempotent && code === OUT_OF_ORDER_SEQUENCE_NUMBER) {
      // An earlier batch of this partition failed and goes out again first: this one follows it.
      if (lane.hasEarlier(batch)) {
        this.requeue(batch, false);
        return;
      }
      // Nothing of ours can fill the gap (an earlier batch failed for good): new producer id.
      this.resetRequested = true;
      this.retryOrFail(batch, error, true);
      return;
    }
    if (this.idempotent && (code === UNKNOWN_PRODUCER_ID || code === INVALID_PRODUCER_EPOCH)) {
      this.resetRequested = true;
      this.retryOrFail(batch, error, true);
      return;
    }
    this.retryOrFail(batch, error, error.retriable);
    if (error.retriable) this.refreshLeaders(lane.topic);
  }

  private retryOrFail(batch: Batch, error: Error, retriable: boolean): void {
    removeFrom(batch.lane.inFlight, batch);
    batch.attempts++;
    if (!retriable || this.stopped || batch.attempts > this.options.retries) {
      batch.settle(error);
      return;
    }
    this.requeue(batch, true);
  }

  private requeue(batch: Batch, backoff: boolean): void {
    const { lane } = batch;
    removeFrom(lane.inFlight, batch);
    if (this.stopped) {
      batch.settle(new Error('Kafka producer stopped'));
      return;
    }
    lane.holding = true;
    lane.requeue(batch);
    if (backoff) lane.retryAt = Math.max(lane.retryAt, Date.now() + Math.min(1000, 100 * 2 ** (batch.attempts - 1)));
  }

  /** A new producer id, and every batch not yet written numbered from 0 again under it. */
  private resetIdentity(): void {
    this.resetRequested = false;
    this.identity = null;
    for (const lane of this.allLanes()) {
      lane.nextSequence = 0;
      for (const batch of lane.queue) batch.stamp = null;
    }
  }

  private ensureIdentity(): Promise<void> {
    this.identityPending ??= this.initProducerId().then(
      (identity) => {
        this.identity = identity;
        this.identityPending = null;
        this.scheduleDrain();
      },
      (err: unknown) => {
        this.identityPending = null;
        // Nobody can write without a producer id: the waiting publishes fail now, not later.
        const error = err instanceof Error ? err : new Error(String(err));
        for (const lane of this.allLanes()) for (const batch of lane.queue.splice(0)) batch.settle(error);
        throw error;
      },
    );
    return this.identityPending;
  }

  private async initProducerId(): Promise<{ producerId: bigint; producerEpoch: number }> {
    for (let attempt = 0; ; attempt++) {
      const connection = await this.track(this.anyConnection());
      const answer = decodeInitProducerId(await this.track(connection.request(ApiKey.InitProducerId, initProducerIdRequest(TRANSACTION_TIMEOUT_MS), this.options.requestTimeoutMs)));
      if (answer.errorCode === 0) return { producerId: answer.producerId, producerEpoch: answer.producerEpoch };
      const hint = answer.errorCode === 31 ? 'an idempotent producer needs the IDEMPOTENT_WRITE permission on the cluster (or set KAFKA_IDEMPOTENT=false)' : undefined;
      const error = new KafkaProtocolError(answer.errorCode, `InitProducerId at ${connection.where}`, hint);
      if (!error.retriable || attempt >= this.options.retries) throw error;
      await sleep(Math.min(1000, 100 * 2 ** attempt));
    }
  }

  private async track<T>(promise: Promise<T>): Promise<T> {
    try {
      const value = await promise;
      this.reachable = true;
      return value;
    } catch (err) {
      if (err instanceof KafkaConnectionError || err instanceof KafkaTimeoutError || err instanceof KafkaTlsError || err instanceof KafkaAuthenticationError) this.reachable = false;
      throw err;
    }
  }

  /** Reads the leaders of `topic` again; the lanes wait for it, and fail if it fails. */
  private refreshLeaders(topic: string): void {
    if (this.refreshing.has(topic) || this.stopped) return;
    this.refreshing.add(topic);
    this.leaders.delete(topic);
    this.leaderCache.delete(topic);
    this.leadersOf(topic).then(
      (leaders) => {
        this.refreshing.delete(topic);
        this.leaderCache.set(topic, leaders);
        this.scheduleDrain();
      },
      (err: unknown) => {
        this.refreshing.delete(topic);
        const error = err instanceof Error ? err : new Error(String(err));
        for (const lane of this.lanes.get(topic)?.values() ?? []) for (const batch of lane.queue.splice(0)) batch.settle(error);
      },
    );
  }

  /** The leader of each partition of `topic`, by partition number, from cached metadata. */
  private leadersOf(topic: string): Promise<number[]> {
    let leaders = this.leaders.get(topic);
    if (!leaders) {
      leaders = this.fetchLeaders(topic).catch((err: unknown) => {
        this.leaders.delete(topic);
        throw err;
      });
      this.leaders.set(topic, leaders);
    }
    return leaders;
  }

  private async fetchLeaders(topic: string): Promise<number[]> {
    // A topic being created has no leader for a moment.
    for (let attempt = 0; ; attempt++) {
      const { topics } = await this.track(this.metadata([topic]));
      const meta = topics.find((t) => t.name === topic);
      let code = meta ? meta.errorCode : 3;
      const leaders: number[] = [];
      for (const p of meta?.partitions ?? []) {
        if (p.leader < 0 || !this.brokers.has(p.leader)) code ||= 5;
        leaders[p.partition] = p.leader;
      }
      if (code === 0 && leaders.length > 0 && leaders.every((l) => l !== undefined)) return leaders;
      const error = new KafkaProtocolError(code || 5, `metadata of ${topic}`);
      if (!error.retriable || attempt >= this.options.retries + 3) throw error;
      await sleep(Math.min(1000, 100 * 2 ** attempt));
    }
  }

  private async metadata(topics: string[]): Promise<ReturnType<typeof decodeMetadata>> {
    for (let attempt = 0; ; attempt++) {
      try {
        const connection = await this.anyConnection();
        const meta = decodeMetadata(await connection.request(ApiKey.Metadata, metadataRequest(topics), this.options.requestTimeoutMs));
        for (const b of meta.brokers) {
          const known = this.brokers.get(b.nodeId);
          if (known && (known.host !== b.host || known.port !== b.port)) this.dropConnection(b.nodeId);
          this.brokers.set(b.nodeId, b);
        }
        return meta;
      } catch (err) {
        this.metadataConnection = null;
        if (!(err instanceof KafkaConnectionError) || attempt >= this.options.retries) throw err;
        await sleep(Math.min(1000, 100 * 2 ** attempt));
      }
    }
  }

  /** The connection metadata and InitProducerId go to, opened again when closed. */
  private async anyConnection(): Promise<BrokerConnection> {
    let connection = this.metadataConnection && (await this.metadataConnection.catch(() => null));
    if (!connection || connection.closed) {
      this.metadataConnection = this.openAny();
      connection = await this.metadataConnection;
    }
    return connection;
  }

  /** A connection to the first bootstrap broker (or known broker) that accepts one. */
  private async openAny(): Promise<BrokerConnection> {
    const candidates = [...this.bootstrap, ...this.brokers.values()];
    let last: unknown = new KafkaConnectionError('no Kafka brokers configured');
    for (const { host, port } of candidates) {
      try {
        const connection = await BrokerConnection.open(host, port, this.settings);
        if (this.stopped) connection.close();
        return connection;
      } catch (err) {
        // Wrong credentials, certificates or versions are the same on every broker.
        if (!(err instanceof KafkaConnectionError || err instanceof KafkaTimeoutError)) throw err;
        last = err;
      }
    }
    throw last;
  }

  /**
   * The connection to a broker, one at a time: every request to it waits for the same connection,
   * so requests leave in the order they were made (a partition's batches must).
   */
  private connectionTo(nodeId: number): Promise<BrokerConnection> {
    const entry = this.connections.get(nodeId);
    if (entry && !entry.connection?.closed) return entry.promise;
    const broker = this.brokers.get(nodeId);
    if (!broker) return Promise.reject(new KafkaProtocolError(5, `unknown broker ${nodeId}`));
    const opening: { promise: Promise<BrokerConnection>; connection: BrokerConnection | null } = { promise: BrokerConnection.open(broker.host, broker.port, this.settings), connection: null };
    this.connections.set(nodeId, opening);
    opening.promise.then(
      (c) => {
        opening.connection = c;
        c.onClose = () => {
          if (this.connections.get(nodeId) === opening) this.connections.delete(nodeId);
        };
        if (this.stopped || c.closed) c.close();
      },
      () => {
        if (this.connections.get(nodeId) === opening) this.connections.delete(nodeId);
      },
    );
    return opening.promise;
  }

  private dropConnection(nodeId: number): void {
    const entry = this.connections.get(nodeId);
    this.connections.delete(nodeId);
    entry?.promise.then((c) => c.close(), () => undefined);
  }
}

/** The records of one partition in batches under `maxBatchBytes`, in order. */
function splitBatches(records: readonly WireRecord[], maxBatchBytes: number): SizedBatch[] {
  const batches: SizedBatch[] = [];
  let current: SizedRecord[] = [];
  let size = RECORD_BATCH_OVERHEAD;
  for (const record of records) {
    let sized = sizeRecord(record, current.length);
    if (current.length > 0 && size + recordBytes(sized) > maxBatchBytes) {
      batches.push({ records: current, size });
      current = [];
      size = RECORD_BATCH_OVERHEAD;
      sized = sizeRecord(record, 0);
    }
    current.push(sized);
    size += recordBytes(sized);
  }
  if (current.length > 0) batches.push({ records: current, size });
  return batches;
}

function removeFrom(list: Batch[], batch: Batch): void {
  const at = list.indexOf(batch);
  if (at >= 0) list.splice(at, 1);
}

function isRetriable(err: unknown): boolean {
  if (err instanceof KafkaProtocolError) return err.retriable;
  return err instanceof KafkaConnectionError || err instanceof KafkaTimeoutError;
}
