import { createServer, type Socket } from 'node:net';
import { KafkaConnectionError, KafkaProducer, KafkaRecordTooLargeError, KafkaTimeoutError, KafkaUnsupportedVersionError, MAX_IN_FLIGHT_PER_PARTITION, negotiateVersions } from './kafka-producer';
import { ApiKey, KafkaProtocolError, partitionForKey } from './kafka-wire';

type ProduceBehaviour = 'ok' | 'silent' | 'close' | { errorCode: number; times: number };

/** What a produce request carried for one partition (from its RecordBatch header). */
interface SeenBatch {
  partition: number;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  records: number;
}

interface SeenRequest {
  version: number;
  bytes: number;
  batches: SeenBatch[];
}

/** A produce request's fate: an error code per partition, or no answer, or a closed connection. */
type ProduceAnswer = 'silent' | 'close' | ((batch: SeenBatch) => number);

interface FakeBrokerOptions {
  partitions?: number;
  /** The ApiVersions answer: [api key, min, max]; default what Kafka 4.1 answers for the APIs used. */
  apis?: [number, number, number][];
  /** Overrides `behaviour`: decides each produce request (n counts them from 0). */
  produce?: (request: SeenRequest, n: number) => ProduceAnswer;
  /** Answers are held until release() (to see how many requests the producer pipelines). */
  hold?: boolean;
}

const KAFKA_41_APIS: [number, number, number][] = [
  [0, 0, 13],
  [3, 0, 13],
  [17, 0, 1],
  [18, 0, 4],
  [22, 0, 5],
  [36, 0, 2],
];

/**
 * A scripted broker: answers ApiVersions, Metadata v1 with itself as the leader of every
 * partition, InitProducerId with ids 1000, 1001, ..., and Produce as `behaviour` (or
 * `options.produce`) says. It records every produce request.
 */
async function fakeBroker(behaviour: ProduceBehaviour, partitionsOrOptions: number | FakeBrokerOptions = 2) {
  const options: FakeBrokerOptions = typeof partitionsOrOptions === 'number' ? { partitions: partitionsOrOptions } : partitionsOrOptions;
  const partitions = options.partitions ?? 2;
  const produced: number[][] = [];
  const requests: SeenRequest[] = [];
  const initProducerIds: number[] = [];
  const held: (() => void)[] = [];
  const sockets = new Set<Socket>();
  let failuresLeft = typeof behaviour === 'object' ? behaviour.times : 0;
  const defaultAnswer = (): ProduceAnswer => {
    if (behaviour === 'silent' || behaviour === 'close') return behaviour;
    const errorCode = failuresLeft > 0 ? (failuresLeft--, (behaviour as { errorCode: number }).errorCode) : 0;
    return () => errorCode;
  };
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
        const frame = buffered.subarray(4, 4 + buffered.readInt32BE(0));
        buffered = buffered.subarray(4 + frame.length);
        const apiKey = frame.readInt16BE(0);
        const version = frame.readInt16BE(2);
        const correlationId = frame.readInt32BE(4);
        const bodyAt = 10 + frame.readInt16BE(8);
        const reply = (body: Buffer) => (options.hold ? held.push(() => socket.write(frameOf(correlationId, body))) : socket.write(frameOf(correlationId, body)));
        if (apiKey === ApiKey.ApiVersions) socket.write(frameOf(correlationId, apiVersionsResponse(options.apis ?? KAFKA_41_APIS)));
        if (apiKey === ApiKey.Metadata) socket.write(frameOf(correlationId, metadataResponse(port, frame.subarray(bodyAt), partitions)));
        if (apiKey === ApiKey.InitProducerId) {
          initProducerIds.push(1000 + initProducerIds.length);
          socket.write(frameOf(correlationId, Buffer.concat([int32(0), int16(0), int64(BigInt(initProducerIds.at(-1)!)), int16(0)])));
        }
        if (apiKey !== ApiKey.Produce) continue;
        const request = produceTargets(frame.subarray(bodyAt), version, frame.length + 4);
        requests.push(request);
        produced.push(request.batches.map((b) => b.partition));
        const answer = options.produce ? options.produce(request, requests.length - 1) : defaultAnswer();
        if (answer === 'silent') continue;
        if (answer === 'close') {
          socket.destroy();
          continue;
        }
        reply(produceResponse(request.topic, request.batches, answer, version));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    address: `127.0.0.1:${port}`,
    server,
    produced,
    requests,
    initProducerIds,
    /** Sends the answers held so far. */
    release: () => held.splice(0).forEach((send) => send()),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function frameOf(correlationId: number, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeInt32BE(4 + body.length, 0);
  head.writeInt32BE(correlationId, 4);
  return Buffer.concat([head, body]);
}

function str(s: string): Buffer {
  const b = Buffer.alloc(2 + Buffer.byteLength(s));
  b.writeInt16BE(Buffer.byteLength(s), 0);
  b.write(s, 2);
  return b;
}

function int32(...values: number[]): Buffer {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeInt32BE(v, 4 * i));
  return b;
}

function int16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(v, 0);
  return b;
}

function int64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(v, 0);
  return b;
}

function apiVersionsResponse(apis: [number, number, number][]): Buffer {
  return Buffer.concat([int16(0), int32(apis.length), ...apis.map(([key, min, max]) => Buffer.concat([int16(key), int16(min), int16(max)]))]);
}

function metadataResponse(port: number, request: Buffer, partitions: number): Buffer {
  const topics: string[] = [];
  let at = 4;
  for (let i = 0; i < request.readInt32BE(0); i++) {
    const length = request.readInt16BE(at);
    topics.push(request.toString('utf8', at + 2, at + 2 + length));
    at += 2 + length;
  }
  const parts = [int32(1), int32(7), str('127.0.0.1'), int32(port), int16(-1), int32(7), int32(topics.length)];
  for (const topic of topics) {
    parts.push(int16(0), str(topic), Buffer.from([0]), int32(partitions));
    for (let p = 0; p < partitions; p++) parts.push(int16(0), int32(p, 7), int32(1, 7), int32(1, 7));
  }
  return Buffer.concat(parts);
}

function produceTargets(body: Buffer, version: number, bytes: number): SeenRequest & { topic: string } {
  let at = 2 + 2 + 4 + 4; // null transactional id, acks, timeout, one topic
  const length = body.readInt16BE(at);
  const topic = body.toString('utf8', at + 2, at + 2 + length);
  at += 2 + length;
  const batches: SeenBatch[] = [];
  const n = body.readInt32BE(at);
  at += 4;
  for (let i = 0; i < n; i++) {
    const batch = body.subarray(at + 8, at + 8 + body.readInt32BE(at + 4));
    batches.push({ partition: body.readInt32BE(at), producerId: batch.readBigInt64BE(43), producerEpoch: batch.readInt16BE(51), baseSequence: batch.readInt32BE(53), records: batch.readInt32BE(57) });
    at += 8 + batch.length;
  }
  return { topic, version, bytes, batches };
}

function produceResponse(topic: string, batches: SeenBatch[], errorOf: (batch: SeenBatch) => number, version: number): Buffer {
  const out = [int32(1), str(topic), int32(batches.length)];
  for (const b of batches) {
    out.push(int32(b.partition), int16(errorOf(b)), Buffer.alloc(16));
    if (version >= 5) out.push(Buffer.alloc(8));
    if (version >= 8) out.push(int32(0), int16(-1));
  }
  out.push(int32(0));
  return Buffer.concat(out);
}

const records = Array.from({ length: 6 }, (_, i) => ({ key: `key-${i}`, value: `{"i":${i}}`, headers: {} }));

describe('KafkaProducer against a scripted broker', () => {
  let broker: Awaited<ReturnType<typeof fakeBroker>> | undefined;
  let producer: KafkaProducer | undefined;

  afterEach(async () => {
    producer?.disconnect();
    await broker?.close();
    broker = undefined;
  });

  it('resolves once the leader acknowledged every partition, one request per leader', async () => {
    broker = await fakeBroker('ok');
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', idempotent: false, requestTimeoutMs: 2000, retries: 2 });
    await producer.connect();
    await producer.send('topic-a', records);
    expect(broker.produced).toHaveLength(1);
    expect(broker.produced[0]!.sort()).toEqual([0, 1]);
    expect(producer.reachable).toBe(true);
  });

  it('retries the failed partitions after a retriable error, then resolves', async () => {
    broker = await fakeBroker({ errorCode: 19, times: 1 }); // NOT_ENOUGH_REPLICAS once
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', idempotent: false, requestTimeoutMs: 2000, retries: 2 });
    await producer.connect();
    await producer.send('topic-b', records);
    expect(broker.produced.length).toBeGreaterThanOrEqual(2);
  });

  it('rejects when a retriable error outlasts the retries, and on a fatal error at once', async () => {
    broker = await fakeBroker({ errorCode: 19, times: 100 });
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', idempotent: false, requestTimeoutMs: 2000, retries: 1 });
    await producer.connect();
    await expect(producer.send('topic-c', records)).rejects.toBeInstanceOf(KafkaProtocolError);
    await broker.close();

    broker = await fakeBroker({ errorCode: 10, times: 100 }); // MESSAGE_TOO_LARGE
    producer.disconnect();
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', idempotent: false, requestTimeoutMs: 2000, retries: 2 });
    await producer.connect();
    await expect(producer.send('topic-c', records)).rejects.toMatchObject({ code: 10 });
    expect(broker.produced).toHaveLength(1);
  });

  it('rejects (never resolves) when the broker does not answer in time, and reports itself unreachable', async () => {
    broker = await fakeBroker('silent');
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', idempotent: false, requestTimeoutMs: 300, retries: 2 });
    await producer.connect();
    await expect(producer.send('topic-d', records)).rejects.toBeInstanceOf(KafkaTimeoutError);
    expect(broker.produced).toHaveLength(1); // a timeout is not retried
    expect(producer.reachable).toBe(false);
  });

  it('rejects when the broker closes the connection before answering, and when it is gone', async () => {
    broker = await fakeBroker('close');
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', idempotent: false, requestTimeoutMs: 1000, retries: 1 });
    await producer.connect();
    await expect(producer.send('topic-e', records)).rejects.toBeInstanceOf(KafkaConnectionError);
    await broker.close();
    await expect(producer.send('topic-e', records)).rejects.toBeInstanceOf(KafkaConnectionError);
    expect(producer.reachable).toBe(false);
  });

  it('finds the brokers again after they come back', async () => {
    broker = await fakeBroker('ok');
    const address = broker.address;
    producer = new KafkaProducer({ brokers: [address], clientId: 't', idempotent: false, requestTimeoutMs: 1000, retries: 0 });
    await producer.connect();
    await producer.send('topic-f', records);
    const port = Number(address.split(':')[1]);
    await broker.close();
    await expect(producer.send('topic-f', records)).rejects.toBeInstanceOf(KafkaConnectionError);
    // A new broker behind the old bootstrap address.
    broker = await fakeBrokerOn(port);
    await producer.send('topic-f', records);
    expect(producer.reachable).toBe(true);
  });
});

async function fakeBrokerOn(port: number): Promise<Awaited<ReturnType<typeof fakeBroker>>> {
  // fakeBroker picks a free port; to come back on the old one, listen there and hand over.
  const b = await fakeBroker('ok');
  const onOld = createServer((socket) => b.server.emit('connection', socket));
  await new Promise<void>((resolve, reject) => onOld.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
  return {
    ...b,
    address: `127.0.0.1:${port}`,
    close: async () => {
      await new Promise<void>((resolve) => onOld.close(() => resolve()));
      await b.close();
    },
  };
}

describe('KafkaProducer version negotiation', () => {
  let broker: Awaited<ReturnType<typeof fakeBroker>> | undefined;
  let producer: KafkaProducer | undefined;
  afterEach(async () => {
    producer?.disconnect();
    await broker?.close();
  });

  it('picks the highest version both sides speak, per API', () => {
    const versions = negotiateVersions('b:1', [
      { apiKey: 0, minVersion: 3, maxVersion: 13 },
      { apiKey: 3, minVersion: 0, maxVersion: 13 },
      { apiKey: 22, minVersion: 0, maxVersion: 0 },
    ], ['Produce', 'Metadata', 'InitProducerId']);
    expect(Object.fromEntries(versions)).toEqual({ 0: 8, 3: 1, 22: 0 });
  });

  it('names the broker, the API and both ranges when there is no common version', () => {
    expect(() => negotiateVersions('b:1', [{ apiKey: 0, minVersion: 9, maxVersion: 11 }, { apiKey: 3, minVersion: 0, maxVersion: 12 }], ['Produce', 'Metadata'])).toThrow(
      new KafkaUnsupportedVersionError('Kafka broker b:1 supports Produce (API key 0) versions 9-11; this client speaks 3-8'),
    );
    expect(() => negotiateVersions('b:1', [{ apiKey: 0, minVersion: 3, maxVersion: 11 }], ['Produce', 'InitProducerId'])).toThrow(/does not support InitProducerId \(API key 22\) at all/);
  });

  it('produces with the version it negotiated and reads that version\'s answer', async () => {
    broker = await fakeBroker('ok');
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', requestTimeoutMs: 2000, retries: 0 });
    await producer.connect();
    expect(await producer.apiVersions()).toEqual({ Produce: 8, Metadata: 1, ApiVersions: 0, InitProducerId: 1 });
    await producer.send('topic-v', records);
    expect(broker.requests.map((r) => r.version)).toEqual([8]);
  });

  it('refuses a broker it cannot speak to, on connect, with a KafkaUnsupportedVersionError', async () => {
    broker = await fakeBroker('ok', { apis: [[0, 9, 13], [3, 0, 13], [18, 0, 4], [22, 0, 5]] });
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', requestTimeoutMs: 2000, retries: 2 });
    const failure = producer.connect();
    await expect(failure).rejects.toBeInstanceOf(KafkaUnsupportedVersionError);
    await expect(failure).rejects.toThrow(`Kafka broker ${broker.address} supports Produce (API key 0) versions 9-13; this client speaks 3-8`);
  });
});

describe('KafkaProducer request size limit', () => {
  let broker: Awaited<ReturnType<typeof fakeBroker>> | undefined;
  let producer: KafkaProducer | undefined;
  afterEach(async () => {
    producer?.disconnect();
    await broker?.close();
  });

  it('splits coalesced records into requests under the limit, keeping each partition in order', async () => {
    broker = await fakeBroker('ok', { partitions: 3 });
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', requestTimeoutMs: 2000, retries: 0, maxRequestBytes: 2000 });
    await producer.connect();
    const many = Array.from({ length: 60 }, (_, i) => ({ key: `k${i % 7}`, value: 'x'.repeat(150), headers: { n: String(i) } }));
    await producer.send('topic-s', many);
    expect(broker.requests.length).toBeGreaterThan(4);
    for (const r of broker.requests) expect(r.bytes).toBeLessThanOrEqual(2000);
    // Every record arrived once; each partition's batches carry consecutive sequences.
    expect(broker.requests.flatMap((r) => r.batches).reduce((n, b) => n + b.records, 0)).toBe(60);
    for (let p = 0; p < 3; p++) {
      const batches = broker.requests.flatMap((r) => r.batches).filter((b) => b.partition === p);
      let next = 0;
      for (const b of batches) {
        expect(b.baseSequence).toBe(next);
        next += b.records;
      }
      expect(next).toBe(many.filter((m) => partitionForKey(m.key, 3) === p).length);
    }
  });

  it('rejects a record larger than a request can carry, without sending anything', async () => {
    broker = await fakeBroker('ok');
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', requestTimeoutMs: 2000, retries: 0, maxRequestBytes: 2000 });
    await producer.connect();
    const huge = { key: 'big', value: 'y'.repeat(2000), headers: {} };
    await expect(producer.send('topic-s', [records[0]!, huge])).rejects.toBeInstanceOf(KafkaRecordTooLargeError);
    await expect(producer.send('topic-s', [huge])).rejects.toThrow(/record of \d+ bytes .* exceeds the \d+ bytes a produce request of at most 2000 bytes \(KAFKA_MAX_REQUEST_BYTES\)/);
    expect(broker.requests).toHaveLength(0);
    // The largest record that fits does go out.
    const fits = { key: 'big', value: 'y'.repeat(producer.maxRecordBytes('topic-s') - 12), headers: {} };
    expect(() => producer!.checkRecordSize('topic-s', fits)).not.toThrow();
    await producer.send('topic-s', [fits]);
    expect(broker.requests[0]!.bytes).toBeLessThanOrEqual(2000);
  });
});

describe('KafkaProducer idempotence against a scripted broker', () => {
  let broker: Awaited<ReturnType<typeof fakeBroker>> | undefined;
  let producer: KafkaProducer | undefined;
  afterEach(async () => {
    producer?.disconnect();
    await broker?.close();
  });
  const oneKey = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ key: 'same-key', value: `${tag}-${i}`, headers: {} }));

  it('stamps batches with the producer id, epoch and per-partition sequences', async () => {
    broker = await fakeBroker('ok', { partitions: 1 });
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', requestTimeoutMs: 2000, retries: 0 });
    await producer.connect();
    await producer.send('topic-i', oneKey(3, 'a'));
    await producer.send('topic-i', oneKey(2, 'b'));
    expect(broker.initProducerIds).toEqual([1000]);
    expect(broker.requests.map((r) => r.batches[0])).toEqual([
      { partition: 0, producerId: 1000n, producerEpoch: 0, baseSequence: 0, records: 3 },
      { partition: 0, producerId: 1000n, producerEpoch: 0, baseSequence: 3, records: 2 },
    ]);
  });

  it('retries a batch whose answer was lost with the same sequence, and takes a duplicate as written', async () => {
    broker = await fakeBroker('ok', { partitions: 1, produce: (_r, n) => (n === 0 ? 'close' : () => 46) });
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', requestTimeoutMs: 2000, retries: 2 });
    await producer.connect();
    await producer.send('topic-i', oneKey(4, 'a'));
    expect(broker.requests.map((r) => r.batches[0]!.baseSequence)).toEqual([0, 0]);
    expect(broker.initProducerIds).toHaveLength(1);
  });

  it('retries a batch after a timeout when idempotent (on a new connection)', async () => {
    broker = await fakeBroker('ok', { partitions: 1, produce: (_r, n) => (n === 0 ? 'silent' : () => 0) });
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', requestTimeoutMs: 300, retries: 1 });
    await producer.connect();
    await producer.send('topic-i', oneKey(2, 'a'));
    expect(broker.requests.map((r) => r.batches[0]!.baseSequence)).toEqual([0, 0]);
  });

  it('takes a new producer id and numbers from 0 again after UNKNOWN_PRODUCER_ID or INVALID_PRODUCER_EPOCH', async () => {
    for (const code of [59, 47]) {
      broker = await fakeBroker('ok', { partitions: 1, produce: (_r, n) => () => (n === 1 ? code : 0) });
      producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', requestTimeoutMs: 2000, retries: 2 });
      await producer.connect();
      await producer.send('topic-i', oneKey(2, 'a'));
      await producer.send('topic-i', oneKey(3, 'b'));
      expect(broker.initProducerIds).toEqual([1000, 1001]);
      expect(broker.requests.map((r) => [r.batches[0]!.producerId, r.batches[0]!.baseSequence])).toEqual([
        [1000n, 0],
        [1000n, 2],
        [1001n, 0],
      ]);
      producer.disconnect();
      await broker.close();
    }
  });

  it('resends a batch refused as out of order behind the earlier batch that failed, in order, without a new id', async () => {
    // Two batches of one partition in flight; the first fails (NOT_LEADER_OR_FOLLOWER), so the
    // broker sees a gap for the second (OUT_OF_ORDER_SEQUENCE_NUMBER). Both go again, in order.
    broker = await fakeBroker('ok', { partitions: 1, produce: (_r, n) => () => (n === 0 ? 6 : n === 1 ? 45 : 0) });
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', requestTimeoutMs: 2000, retries: 2 });
    await producer.connect();
    const first = producer.send('topic-i', oneKey(2, 'a'));
    await new Promise((resolve) => setImmediate(resolve));
    const second = producer.send('topic-i', oneKey(3, 'b'));
    await Promise.all([first, second]);
    expect(broker.requests.map((r) => r.batches[0]!.baseSequence)).toEqual([0, 2, 0, 2]);
    expect(broker.initProducerIds).toHaveLength(1);
  });

  it('takes a new producer id when the sequence has a gap no earlier batch of its own can fill', async () => {
    // The first batch fails for good (a fatal error); the broker never wrote it, so the next
    // batch's sequence is out of order with nothing before it: new id, sequence 0.
    broker = await fakeBroker('ok', { partitions: 1, produce: (_r, n) => () => (n === 0 ? 87 : n === 1 ? 45 : 0) });
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', requestTimeoutMs: 2000, retries: 2 });
    await producer.connect();
    await expect(producer.send('topic-i', oneKey(2, 'a'))).rejects.toMatchObject({ code: 87 });
    await producer.send('topic-i', oneKey(3, 'b'));
    expect(broker.requests.map((r) => [r.batches[0]!.producerId, r.batches[0]!.baseSequence])).toEqual([
      [1000n, 0],
      [1000n, 2],
      [1001n, 0],
    ]);
  });

  it(`keeps at most ${MAX_IN_FLIGHT_PER_PARTITION} batches of a partition in flight, in order`, async () => {
    broker = await fakeBroker('ok', { partitions: 1, hold: true });
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', requestTimeoutMs: 5000, retries: 0 });
    await producer.connect();
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 8; i++) {
      sends.push(producer.send('topic-i', oneKey(1, `s${i}`)));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(broker.requests).toHaveLength(MAX_IN_FLIGHT_PER_PARTITION);
    while (broker.requests.length < 8) {
      broker.release();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    broker.release();
    await Promise.all(sends);
    expect(broker.requests.map((r) => r.batches[0]!.baseSequence)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});
