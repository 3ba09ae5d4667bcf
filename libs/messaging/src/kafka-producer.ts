import { connect as netConnect, type Socket } from 'node:net';
import { sleep } from '@borealis/util';
import {
  ApiKey,
  decodeMetadata,
  decodeProduceResponse,
  KafkaProtocolError,
  metadataRequest,
  partitionForKey,
  produceRequest,
  requestHeader,
  type BrokerAddress,
  type WireRecord,
} from './kafka-wire';

export interface KafkaProducerOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  clientId: string;
  /** How long one request (and a connection attempt, at most 3 s) may take. */
  requestTimeoutMs: number;
  /** Further attempts after a connection failure or a retriable broker error. */
  retries: number;
}

/** No connection to a broker, or it closed while a request waited for its answer. */
export class KafkaConnectionError extends Error {
  override name = 'KafkaConnectionError';
}

/** A broker did not answer in time; the records may or may not have been written. */
export class KafkaTimeoutError extends Error {
  override name = 'KafkaTimeoutError';
}

interface Pending {
  resolve: (body: Buffer) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** One TCP connection to a broker: requests pipelined, answers matched by correlation id. */
class BrokerConnection {
  private readonly pending = new Map<number, Pending>();
  private nextCorrelationId = 1;
  private received: Buffer[] = [];
  private receivedBytes = 0;
  closed = false;

  private constructor(
    private readonly socket: Socket,
    private readonly where: string,
    private readonly clientId: string,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined); // 'close' follows and fails what is pending
    socket.on('close', () => this.fail(new KafkaConnectionError(`connection to Kafka broker ${where} closed`)));
  }

  static open(host: string, port: number, clientId: string, timeoutMs: number): Promise<BrokerConnection> {
    const where = `${host}:${port}`;
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new KafkaConnectionError(`no connection to Kafka broker ${where} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new KafkaConnectionError(`cannot connect to Kafka broker ${where}: ${err.message}`));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new BrokerConnection(socket, where, clientId));
      });
    });
  }

  request(apiKey: number, apiVersion: number, body: Buffer, timeoutMs: number): Promise<Buffer> {
    if (this.closed) return Promise.reject(new KafkaConnectionError(`connection to Kafka broker ${this.where} closed`));
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
      this.socket.write(requestHeader(apiKey, apiVersion, correlationId, this.clientId, body.length));
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

const METADATA_VERSION = 1;
const PRODUCE_VERSION = 3;

/**
 * A minimal Kafka producer for the hot publish path: Metadata v1 to find each partition's leader,
 * Produce v3 with one RecordBatch per partition, encoded straight into one buffer
 * (`kafka-wire.ts`). Records go to the partition kafkajs's default partitioner would pick for
 * their key, so per-key order does not depend on which client wrote. `send` resolves only when
 * every partition's leader answered without error for the requested acks; a connection failure,
 * a timeout or a broker error rejects it (retriable ones are retried `retries` times after a
 * metadata refresh; a timeout is not retried, so a caller waits at most about one request timeout
 * per attempt). Not idempotent: a retry after a lost answer may write a record twice, as kafkajs
 * with `idempotent: false` may too. No TLS or SASL: the deployment's brokers take neither.
 */
export class KafkaProducer {
  private readonly bootstrap: { host: string; port: number }[];
  private readonly brokers = new Map<number, BrokerAddress>();
  private readonly connections = new Map<number, Promise<BrokerConnection>>();
  private readonly leaders = new Map<string, Promise<number[]>>();
  private metadataConnection: Promise<BrokerConnection> | null = null;
  private stopped = true;
  /** False after an attempt to reach the brokers failed, until one succeeds again. */
  reachable = false;
  private lastError: number | null = null;

  constructor(private readonly options: KafkaProducerOptions) {
    this.bootstrap = options.brokers.map((b) => {
      const at = b.lastIndexOf(':');
      return { host: b.slice(0, at), port: Number(b.slice(at + 1)) };
    });
  }

  async connect(): Promise<void> {
    this.stopped = false;
    await this.track(this.metadata([]));
  }

  disconnect(): void {
    this.stopped = true;
    this.reachable = false;
    const all = [...this.connections.values(), ...(this.metadataConnection ? [this.metadataConnection] : [])];
    this.connections.clear();
    this.leaders.clear();
    this.metadataConnection = null;
    for (const c of all) c.then((conn) => conn.close(), () => undefined);
  }

  /** Writes the records with `acks` (-1: all in-sync replicas) and resolves once they are. */
  async send(topic: string, records: readonly WireRecord[], acks: number): Promise<void> {
    if (this.stopped) throw new Error('Kafka producer is not connected');
    let leaders = await this.track(this.leadersOf(topic));
    let byPartition = new Map<number, WireRecord[]>();
    for (const record of records) {
      const partition = partitionForKey(record.key, leaders.length);
      const list = byPartition.get(partition);
      if (list) list.push(record);
      else byPartition.set(partition, [record]);
    }
    for (let attempt = 0; ; attempt++) {
      let failed: Map<number, WireRecord[]>;
      try {
        failed = await this.track(this.produceOnce(topic, leaders, byPartition, acks));
        if (failed.size === 0) return;
      } catch (err) {
        if (!isRetriable(err) || attempt >= this.options.retries) throw err;
        failed = byPartition;
      }
      if (attempt >= this.options.retries) throw new KafkaProtocolError(this.lastError ?? -1, `${topic} after ${attempt + 1} attempts`);
      this.leaders.delete(topic);
      await sleep(Math.min(1000, 100 * 2 ** attempt));
      leaders = await this.track(this.leadersOf(topic));
      byPartition = failed;
    }
  }

  /** Produces to each leader at once; returns the partitions that failed with a retriable error. */
  private async produceOnce(topic: string, leaders: number[], byPartition: Map<number, WireRecord[]>, acks: number): Promise<Map<number, WireRecord[]>> {
    const perLeader = new Map<number, Map<number, WireRecord[]>>();
    for (const [partition, records] of byPartition) {
      const leader = leaders[partition]!;
      let own = perLeader.get(leader);
      if (!own) perLeader.set(leader, (own = new Map()));
      own.set(partition, records);
    }
    const failed = new Map<number, WireRecord[]>();
    const { requestTimeoutMs } = this.options;
    await Promise.all(
      [...perLeader].map(async ([leader, partitions]) => {
        const connection = await this.connectionTo(leader);
        const body = await connection.request(ApiKey.Produce, PRODUCE_VERSION, produceRequest(topic, partitions, acks, requestTimeoutMs), requestTimeoutMs);
        for (const { partition, errorCode } of decodeProduceResponse(body)) {
          if (errorCode === 0) continue;
          const error = new KafkaProtocolError(errorCode, `${topic}/${partition}`);
          if (!error.retriable) throw error;
          this.lastError = errorCode;
          failed.set(partition, partitions.get(partition)!);
        }
      }),
    );
    return failed;
  }

  private async track<T>(promise: Promise<T>): Promise<T> {
    try {
      const value = await promise;
      this.reachable = true;
      return value;
    } catch (err) {
      if (err instanceof KafkaConnectionError || err instanceof KafkaTimeoutError) this.reachable = false;
      throw err;
    }
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
    // A topic being created (automatically, on this first request) has no leader for a moment.
    for (let attempt = 0; ; attempt++) {
      const { topics } = await this.metadata([topic]);
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
        let connection = this.metadataConnection && (await this.metadataConnection.catch(() => null));
        if (!connection || connection.closed) {
          this.metadataConnection = this.openAny();
          connection = await this.metadataConnection;
        }
        const meta = decodeMetadata(await connection.request(ApiKey.Metadata, METADATA_VERSION, metadataRequest(topics), this.options.requestTimeoutMs));
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

  /** A connection to the first bootstrap broker (or known broker) that accepts one. */
  private async openAny(): Promise<BrokerConnection> {
    const candidates = [...this.bootstrap, ...this.brokers.values()];
    let last: unknown = new KafkaConnectionError('no Kafka brokers configured');
    for (const { host, port } of candidates) {
      try {
        const connection = await BrokerConnection.open(host, port, this.options.clientId, Math.min(this.options.requestTimeoutMs, 3000));
        if (this.stopped) connection.close();
        return connection;
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }

  private connectionTo(nodeId: number): Promise<BrokerConnection> {
    let connection = this.connections.get(nodeId);
    if (connection) {
      // A closed connection is replaced on next use.
      connection = connection.then((c) => (c.closed ? this.reopen(nodeId) : c));
    } else {
      connection = this.reopen(nodeId);
    }
    return connection;
  }

  private reopen(nodeId: number): Promise<BrokerConnection> {
    const broker = this.brokers.get(nodeId);
    if (!broker) return Promise.reject(new KafkaProtocolError(5, `unknown broker ${nodeId}`));
    const connection = BrokerConnection.open(broker.host, broker.port, this.options.clientId, Math.min(this.options.requestTimeoutMs, 3000)).then((c) => {
      if (this.stopped) c.close();
      return c;
    });
    this.connections.set(nodeId, connection);
    connection.catch(() => {
      if (this.connections.get(nodeId) === connection) this.connections.delete(nodeId);
    });
    return connection;
  }

  private dropConnection(nodeId: number): void {
    const connection = this.connections.get(nodeId);
    this.connections.delete(nodeId);
    connection?.then((c) => c.close(), () => undefined);
  }
}

function isRetriable(err: unknown): boolean {
  if (err instanceof KafkaProtocolError) return err.retriable;
  // A timed-out request (KafkaTimeoutError) is not retried: the caller waits at most one timeout.
  return err instanceof KafkaConnectionError;
}
