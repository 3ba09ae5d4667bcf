/**
 * The few Kafka protocol messages the producer needs, encoded into one pre-sized buffer each:
 * ApiVersions v0, SaslHandshake v1, SaslAuthenticate v0-v1, InitProducerId v0-v1, Metadata v1 and
 * Produce v3-v8 (the same request body; the answers differ) with a RecordBatch v2 (magic 2,
 * CRC32C, zigzag varints, producer id and sequence when idempotent), no compression, no
 * transactions. Only non-flexible versions: no tagged fields anywhere. kafkajs builds the same bytes through an encoder object and a
 * zero-filled 512-byte buffer per record and per header, 64-bit `Long` arithmetic for every
 * varlong and the key hash, and copies each level into the next; that was its cost per record.
 * Reference: https://kafka.apache.org/protocol and the RecordBatch format in the Kafka docs.
 */

export const ApiKey = { Produce: 0, Metadata: 3, SaslHandshake: 17, ApiVersions: 18, InitProducerId: 22, SaslAuthenticate: 36 } as const;
export type ApiKeyName = keyof typeof ApiKey;

/** The versions of each API this client can encode and decode, lowest to highest. */
export const CLIENT_VERSIONS: Readonly<Record<ApiKeyName, readonly [min: number, max: number]>> = {
  Produce: [3, 8],
  Metadata: [1, 1],
  SaslHandshake: [1, 1],
  ApiVersions: [0, 0],
  InitProducerId: [0, 1],
  SaslAuthenticate: [0, 1],
};

/** A record as the producer sends it: strings, encoded once into the request buffer. */
export interface WireRecord {
  key: string;
  value: string;
  headers: Record<string, string>;
}

// ---- CRC32C (Castagnoli), as the RecordBatch checksum requires: slicing by 8 (eight tables, eight
// bytes a step), about five times faster than a byte at a time; produce requests are kilobytes.

const CRC32C_TABLES = (() => {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) t[k * 256 + n] = t[t[(k - 1) * 256 + n]! & 0xff]! ^ (t[(k - 1) * 256 + n]! >>> 8);
  }
  return t;
})();

export function crc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  const t = CRC32C_TABLES;
  let crc = -1;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const lo = crc ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24));
    crc =
      t[1792 + (lo & 0xff)]! ^
      t[1536 + ((lo >>> 8) & 0xff)]! ^
      t[1280 + ((lo >>> 16) & 0xff)]! ^
      t[1024 + (lo >>> 24)]! ^
      t[768 + buf[i + 4]!]! ^
      t[512 + buf[i + 5]!]! ^
      t[256 + buf[i + 6]!]! ^
      t[buf[i + 7]!]!;
  }
  for (; i < end; i++) crc = t[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

// ---- murmur2 as Kafka's Java client (and kafkajs's default partitioner) computes it, in 32-bit ints.

export function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  // The last 1 to 3 bytes (Java's switch with fall-through).
  const tail = length & ~3;
  const rest = length & 3;
  if (rest > 0) {
    if (rest === 3) h ^= data[tail + 2]! << 16;
    if (rest >= 2) h ^= data[tail + 1]! << 8;
    h ^= data[tail]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition Kafka's default partitioner picks for a key (the same as kafkajs's). */
export function partitionForKey(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions;
}

// ---- Writing.

/** Bytes of a zigzag varint (values within ±2^30, as lengths and counts are). */
function varIntSize(value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  let bytes = 1;
  while (v >= 0x80) {
    v >>>= 7;
    bytes++;
  }
  return bytes;
}

/** A cursor over one buffer allocated at its final size. */
class Writer {
  readonly buf: Buffer;
  pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  int8(v: number): this {
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  int16(v: number): this {
    this.pos = this.buf.writeInt16BE(v, this.pos);
    return this;
  }

  int32(v: number): this {
    this.pos = this.buf.writeInt32BE(v, this.pos);
    return this;
  }

  bigInt64(v: bigint): this {
    this.pos = this.buf.writeBigInt64BE(v, this.pos);
    return this;
  }

  /** An int64 from a JS number that is a safe integer (timestamps, -1). */
  int64(v: number): this {
    const high = Math.floor(v / 0x1_0000_0000);
    this.buf.writeInt32BE(high, this.pos);
    this.buf.writeUInt32BE(v - high * 0x1_0000_0000, this.pos + 4);
    this.pos += 8;
    return this;
  }

  varInt(value: number): this {
    let v = ((value << 1) ^ (value >> 31)) >>> 0;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
    return this;
  }

  /** A protocol string: int16 length, then UTF-8 (`null`: length -1). */
  string(s: string | null, byteLength = s === null ? 0 : Buffer.byteLength(s)): this {
    if (s === null) return this.int16(-1);
    this.int16(byteLength);
    this.pos += this.buf.write(s, this.pos, byteLength, 'utf8');
    return this;
  }

  /** Record bytes: varint length, then UTF-8. */
  varBytes(s: string, byteLength: number): this {
    this.varInt(byteLength);
    this.pos += this.buf.write(s, this.pos, byteLength, 'utf8');
    return this;
  }
}

export function stringSize(s: string | null): number {
  return 2 + (s === null ? 0 : Buffer.byteLength(s));
}

/** The request header (v1) and the size prefix, for a body of `bodySize` bytes. */
export function requestHeader(apiKey: number, apiVersion: number, correlationId: number, clientId: string, bodySize: number): Buffer {
  const clientIdSize = Buffer.byteLength(clientId);
  const size = 2 + 2 + 4 + 2 + clientIdSize;
  return new Writer(4 + size).int32(size + bodySize).int16(apiKey).int16(apiVersion).int32(correlationId).string(clientId, clientIdSize).buf;
}

/** Metadata v1 for these topics (brokers only when empty). */
export function metadataRequest(topics: readonly string[]): Buffer {
  const w = new Writer(4 + topics.reduce((n, t) => n + stringSize(t), 0)).int32(topics.length);
  for (const t of topics) w.string(t);
  return w.buf;
}

/** RecordBatch v2 bytes besides its records, from the base offset to the record count. */
export const RECORD_BATCH_OVERHEAD = 61;
/** Bytes per partition entry of a produce request besides its batch: partition and batch size. */
export const PRODUCE_PARTITION_OVERHEAD = 8;

export interface SizedRecord {
  record: WireRecord;
  keySize: number;
  valueSize: number;
  headers: [name: string, nameSize: number, value: string, valueSize: number][];
  bodySize: number;
}

/** A record sized for its place (`offsetDelta`) in a batch; `varIntSize(bodySize) + bodySize` bytes there. */
export function sizeRecord(record: WireRecord, offsetDelta: number): SizedRecord {
  const keySize = Buffer.byteLength(record.key);
  const valueSize = Buffer.byteLength(record.value);
  const headers: SizedRecord['headers'] = [];
  let headersSize = 0;
  for (const name in record.headers) {
    const value = record.headers[name]!;
    const nameSize = Buffer.byteLength(name);
    const hvSize = Buffer.byteLength(value);
    headers.push([name, nameSize, value, hvSize]);
    headersSize += varIntSize(nameSize) + nameSize + varIntSize(hvSize) + hvSize;
  }
  // attributes, timestamp delta (always 0: one timestamp per batch), offset delta, key, value, headers
  const bodySize = 1 + 1 + varIntSize(offsetDelta) + varIntSize(keySize) + keySize + varIntSize(valueSize) + valueSize + varIntSize(headers.length) + headersSize;
  return { record, keySize, valueSize, headers, bodySize };
}

/** Bytes a sized record takes in its batch. */
export function recordBytes(r: SizedRecord): number {
  return varIntSize(r.bodySize) + r.bodySize;
}

/** The records of one RecordBatch, sized; `size` is the whole batch (without its int32 size prefix). */
export interface SizedBatch {
  records: SizedRecord[];
  size: number;
}

export function sizeBatch(records: readonly WireRecord[]): SizedBatch {
  const sized = records.map((r, i) => sizeRecord(r, i));
  return { records: sized, size: RECORD_BATCH_OVERHEAD + sized.reduce((n, r) => n + recordBytes(r), 0) };
}

/**
 * Bytes of a produce request for `topic` besides its partitions' entries: size prefix, request
 * header (v1, with the client id), transactional id (null), acks, timeout, topic array and name,
 * partition array length.
 */
export function produceRequestOverhead(topic: string, clientId: string): number {
  return 4 + (2 + 2 + 4 + stringSize(clientId)) + 2 + 2 + 4 + 4 + stringSize(topic) + 4;
}

/** Who writes a batch when the producer is idempotent (KIP-98): its id, epoch and first sequence. */
export interface ProducerStamp {
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
}

const NOT_IDEMPOTENT: ProducerStamp = { producerId: -1n, producerEpoch: -1, baseSequence: -1 };

export interface PartitionBatch {
  partition: number;
  batch: SizedBatch;
  timestampMs: number;
  /** Absent: not idempotent (producer id -1, sequence -1). */
  producer?: ProducerStamp;
}

/** The RecordBatch v2 of these records, written at `w`'s position (size prefix included). */
function writeRecordBatch(w: Writer, { records, size }: SizedBatch, timestampMs: number, producer: ProducerStamp): void {
  w.int32(size);
  const start = w.pos;
  w.int64(0) // base offset: the broker assigns offsets
    .int32(size - 12) // batch length: what follows this field
    .int32(-1) // partition leader epoch (set by the broker)
    .int8(2); // magic
  const crcAt = w.pos;
  w.int32(0) // CRC32C of everything after it, filled in below
    .int16(0) // attributes: no compression, create time, not transactional (idempotence needs no bit)
    .int32(records.length - 1) // last offset delta
    .int64(timestampMs) // first timestamp
    .int64(timestampMs) // max timestamp
    .bigInt64(producer.producerId)
    .int16(producer.producerEpoch)
    .int32(producer.baseSequence)
    .int32(records.length);
  records.forEach((r, offsetDelta) => {
    w.varInt(r.bodySize).int8(0).varInt(0).varInt(offsetDelta).varBytes(r.record.key, r.keySize).varBytes(r.record.value, r.valueSize).varInt(r.headers.length);
    for (const [name, nameSize, value, valueSize] of r.headers) w.varBytes(name, nameSize).varBytes(value, valueSize);
  });
  w.buf.writeUInt32BE(crc32c(w.buf, crcAt + 4, start + size), crcAt);
}

/**
 * The body of a Produce request (v3 to v8 share it) for one topic, one RecordBatch per partition.
 * `acks` -1 waits for all in-sync replicas; `timeoutMs` is the broker's wait for them.
 */
export function encodeProduceRequest(topic: string, batches: readonly PartitionBatch[], acks: number, timeoutMs: number): Buffer {
  let size = 2 + 2 + 4 + 4 + stringSize(topic) + 4; // transactional id (null), acks, timeout, topics, topic, partitions
  for (const b of batches) size += PRODUCE_PARTITION_OVERHEAD + b.batch.size;
  const w = new Writer(size).string(null).int16(acks).int32(timeoutMs).int32(1).string(topic).int32(batches.length);
  for (const b of batches) {
    w.int32(b.partition);
    writeRecordBatch(w, b.batch, b.timestampMs, b.producer ?? NOT_IDEMPOTENT);
  }
  if (w.pos !== size) throw new Error(`produce request encoded to ${w.pos} bytes, sized ${size}`);
  return w.buf;
}

/** A produce request body with the records of each partition in one batch, not idempotent. */
export function produceRequest(topic: string, byPartition: ReadonlyMap<number, readonly WireRecord[]>, acks: number, timeoutMs: number, timestampMs = Date.now()): Buffer {
  return encodeProduceRequest(
    topic,
    [...byPartition].map(([partition, records]) => ({ partition, batch: sizeBatch(records), timestampMs })),
    acks,
    timeoutMs,
  );
}

/** ApiVersions v0: an empty body; every broker since 0.10 answers it in v0 whatever it supports. */
export function apiVersionsRequest(): Buffer {
  return Buffer.alloc(0);
}

/** InitProducerId v0/v1 without a transactional id: a producer id and epoch for an idempotent producer. */
export function initProducerIdRequest(transactionTimeoutMs: number): Buffer {
  return new Writer(2 + 4).string(null).int32(transactionTimeoutMs).buf;
}

/** SaslHandshake v1: the mechanism, as Kafka spells it (PLAIN, SCRAM-SHA-256, ...). */
export function saslHandshakeRequest(mechanism: string): Buffer {
  return new Writer(stringSize(mechanism)).string(mechanism).buf;
}

/** SaslAuthenticate v0/v1: the mechanism's bytes. */
export function saslAuthenticateRequest(authBytes: Buffer): Buffer {
  const w = new Writer(4 + authBytes.length).int32(authBytes.length);
  authBytes.copy(w.buf, w.pos);
  return w.buf;
}

// ---- Reading.

class Reader {
  pos = 0;

  constructor(private readonly buf: Buffer) {}

  int8(): number {
    return this.buf.readInt8(this.pos++);
  }

  int16(): number {
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  int64(): bigint {
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  bytes(): Buffer | null {
    const length = this.int32();
    if (length < 0) return null;
    const b = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return b;
  }

  skip(bytes: number): void {
    this.pos += bytes;
  }

  string(): string | null {
    const length = this.int16();
    if (length < 0) return null;
    const s = this.buf.toString('utf8', this.pos, this.pos + length);
    this.pos += length;
    return s;
  }

  array<T>(item: () => T): T[] {
    const n = this.int32();
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(item());
    return out;
  }
}

export interface BrokerAddress {
  nodeId: number;
  host: string;
  port: number;
}

export interface TopicMetadata {
  errorCode: number;
  name: string;
  partitions: { errorCode: number; partition: number; leader: number }[];
}

export function decodeMetadata(body: Buffer): { brokers: BrokerAddress[]; topics: TopicMetadata[] } {
  const r = new Reader(body);
  const brokers = r.array(() => {
    const nodeId = r.int32();
    const host = r.string() ?? '';
    const port = r.int32();
    r.string(); // rack
    return { nodeId, host, port };
  });
  r.int32(); // controller id
  const topics = r.array(() => {
    const errorCode = r.int16();
    const name = r.string() ?? '';
    r.int8(); // is internal
    const partitions = r.array(() => {
      const partitionError = r.int16();
      const partition = r.int32();
      const leader = r.int32();
      r.array(() => r.int32()); // replicas
      r.array(() => r.int32()); // in-sync replicas
      return { errorCode: partitionError, partition, leader };
    });
    return { errorCode, name, partitions };
  });
  return { brokers, topics };
}

export interface ProducePartitionResult {
  topic: string;
  partition: number;
  errorCode: number;
  /** v8: the broker's explanation, when it gave one. */
  errorMessage?: string;
}

/** Produce response v3 to v8: the outcome per partition (0: written and acknowledged as asked). */
export function decodeProduceResponse(body: Buffer, version = 3): ProducePartitionResult[] {
  const r = new Reader(body);
  const out: ProducePartitionResult[] = [];
  r.array(() => {
    const topic = r.string() ?? '';
    r.array(() => {
      const partition = r.int32();
      const errorCode = r.int16();
      r.skip(16); // base offset, log append time
      if (version >= 5) r.skip(8); // log start offset
      let errorMessage: string | null = null;
      if (version >= 8) {
        r.array(() => [r.int32(), r.string()]); // record errors
        errorMessage = r.string();
      }
      out.push(errorMessage ? { topic, partition, errorCode, errorMessage } : { topic, partition, errorCode });
    });
  });
  return out;
}

export interface ApiVersionRange {
  apiKey: number;
  minVersion: number;
  maxVersion: number;
}

/** ApiVersions v0 response: the error code and the versions of every API the broker supports. */
export function decodeApiVersions(body: Buffer): { errorCode: number; apis: ApiVersionRange[] } {
  const r = new Reader(body);
  const errorCode = r.int16();
  const apis = r.array(() => ({ apiKey: r.int16(), minVersion: r.int16(), maxVersion: r.int16() }));
  return { errorCode, apis };
}

/** InitProducerId v0/v1 response. */
export function decodeInitProducerId(body: Buffer): { errorCode: number; producerId: bigint; producerEpoch: number } {
  const r = new Reader(body);
  r.int32(); // throttle time
  const errorCode = r.int16();
  return { errorCode, producerId: r.int64(), producerEpoch: r.int16() };
}

/** SaslHandshake v1 response: the error code and the mechanisms the listener enables. */
export function decodeSaslHandshake(body: Buffer): { errorCode: number; mechanisms: string[] } {
  const r = new Reader(body);
  const errorCode = r.int16();
  return { errorCode, mechanisms: r.array(() => r.string() ?? '') };
}

/** SaslAuthenticate v0/v1 response (v1 adds the session lifetime, which this client ignores). */
export function decodeSaslAuthenticate(body: Buffer): { errorCode: number; errorMessage: string | null; authBytes: Buffer } {
  const r = new Reader(body);
  const errorCode = r.int16();
  const errorMessage = r.string();
  return { errorCode, errorMessage, authBytes: r.bytes() ?? Buffer.alloc(0) };
}

/** Errors after which the same request may succeed once metadata is refreshed. */
const RETRIABLE = new Set([
  3, // UNKNOWN_TOPIC_OR_PARTITION (being created)
  5, // LEADER_NOT_AVAILABLE
  6, // NOT_LEADER_OR_FOLLOWER
  7, // REQUEST_TIMED_OUT (the broker's wait for the replicas)
  13, // NETWORK_EXCEPTION
  14, // COORDINATOR_LOAD_IN_PROGRESS
  15, // COORDINATOR_NOT_AVAILABLE
  16, // NOT_COORDINATOR
  19, // NOT_ENOUGH_REPLICAS
  20, // NOT_ENOUGH_REPLICAS_AFTER_APPEND
  56, // KAFKA_STORAGE_ERROR
  74, // FENCED_LEADER_EPOCH
  75, // UNKNOWN_LEADER_EPOCH
]);

/** Names of the error codes this client meets, for messages an operator can look up. */
const ERROR_NAMES: Record<number, string> = {
  [-1]: 'UNKNOWN_SERVER_ERROR',
  2: 'CORRUPT_MESSAGE',
  3: 'UNKNOWN_TOPIC_OR_PARTITION',
  5: 'LEADER_NOT_AVAILABLE',
  6: 'NOT_LEADER_OR_FOLLOWER',
  7: 'REQUEST_TIMED_OUT',
  10: 'MESSAGE_TOO_LARGE',
  13: 'NETWORK_EXCEPTION',
  14: 'COORDINATOR_LOAD_IN_PROGRESS',
  15: 'COORDINATOR_NOT_AVAILABLE',
  16: 'NOT_COORDINATOR',
  17: 'INVALID_TOPIC_EXCEPTION',
  18: 'RECORD_LIST_TOO_LARGE',
  19: 'NOT_ENOUGH_REPLICAS',
  20: 'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
  29: 'TOPIC_AUTHORIZATION_FAILED',
  31: 'CLUSTER_AUTHORIZATION_FAILED',
  33: 'UNSUPPORTED_SASL_MECHANISM',
  34: 'ILLEGAL_SASL_STATE',
  35: 'UNSUPPORTED_VERSION',
  45: 'OUT_OF_ORDER_SEQUENCE_NUMBER',
  46: 'DUPLICATE_SEQUENCE_NUMBER',
  47: 'INVALID_PRODUCER_EPOCH',
  56: 'KAFKA_STORAGE_ERROR',
  58: 'SASL_AUTHENTICATION_FAILED',
  59: 'UNKNOWN_PRODUCER_ID',
  74: 'FENCED_LEADER_EPOCH',
  75: 'UNKNOWN_LEADER_EPOCH',
  87: 'INVALID_RECORD',
};

export function kafkaErrorName(code: number): string {
  return ERROR_NAMES[code] ?? `error ${code}`;
}

export class KafkaProtocolError extends Error {
  readonly retriable: boolean;

  constructor(
    readonly code: number,
    where: string,
    detail?: string,
  ) {
    super(`Kafka error ${code} (${kafkaErrorName(code)}) from ${where}${detail ? `: ${detail}` : ''}`);
    this.name = 'KafkaProtocolError';
    this.retriable = RETRIABLE.has(code);
  }
}
