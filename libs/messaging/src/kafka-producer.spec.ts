import { createServer, type Server, type Socket } from 'node:net';
import { KafkaConnectionError, KafkaProducer, KafkaTimeoutError } from './kafka-producer';
import { ApiKey, KafkaProtocolError } from './kafka-wire';

type ProduceBehaviour = 'ok' | 'silent' | 'close' | { errorCode: number; times: number };

/**
 * A scripted broker: answers Metadata v1 with itself as the leader of every partition, and Produce
 * as `behaviour` says. It records the partitions of every produce request it receives.
 */
async function fakeBroker(behaviour: ProduceBehaviour, partitions = 2): Promise<{ address: string; server: Server; produced: number[][]; close(): Promise<void> }> {
  const produced: number[][] = [];
  const sockets = new Set<Socket>();
  let failuresLeft = typeof behaviour === 'object' ? behaviour.times : 0;
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
        const frame = buffered.subarray(4, 4 + buffered.readInt32BE(0));
        buffered = buffered.subarray(4 + frame.length);
        const apiKey = frame.readInt16BE(0);
        const correlationId = frame.readInt32BE(4);
        const bodyAt = 10 + frame.readInt16BE(8);
        if (apiKey === ApiKey.Metadata) socket.write(frameOf(correlationId, metadataResponse(port, frame.subarray(bodyAt), partitions)));
        if (apiKey !== ApiKey.Produce) continue;
        const { topic, parts } = produceTargets(frame.subarray(bodyAt));
        produced.push(parts);
        if (behaviour === 'silent') continue;
        if (behaviour === 'close') {
          socket.destroy();
          continue;
        }
        const errorCode = failuresLeft > 0 ? (failuresLeft--, (behaviour as { errorCode: number }).errorCode) : 0;
        socket.write(frameOf(correlationId, produceResponse(topic, parts, errorCode)));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    address: `127.0.0.1:${port}`,
    server,
    produced,
    close: () =>
      new Promise((resolve) => {
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

function produceTargets(body: Buffer): { topic: string; parts: number[] } {
  let at = 2 + 2 + 4 + 4; // null transactional id, acks, timeout, one topic
  const length = body.readInt16BE(at);
  const topic = body.toString('utf8', at + 2, at + 2 + length);
  at += 2 + length;
  const parts: number[] = [];
  const n = body.readInt32BE(at);
  at += 4;
  for (let i = 0; i < n; i++) {
    parts.push(body.readInt32BE(at));
    at += 8 + body.readInt32BE(at + 4);
  }
  return { topic, parts };
}

function produceResponse(topic: string, parts: number[], errorCode: number): Buffer {
  const out = [int32(1), str(topic), int32(parts.length)];
  for (const p of parts) out.push(int32(p), int16(errorCode), Buffer.alloc(16));
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
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', requestTimeoutMs: 2000, retries: 2 });
    await producer.connect();
    await producer.send('topic-a', records, -1);
    expect(broker.produced).toHaveLength(1);
    expect(broker.produced[0]!.sort()).toEqual([0, 1]);
    expect(producer.reachable).toBe(true);
  });

  it('retries the failed partitions after a retriable error, then resolves', async () => {
    broker = await fakeBroker({ errorCode: 19, times: 1 }); // NOT_ENOUGH_REPLICAS once
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', requestTimeoutMs: 2000, retries: 2 });
    await producer.connect();
    await producer.send('topic-b', records, -1);
    expect(broker.produced.length).toBeGreaterThanOrEqual(2);
  });

  it('rejects when a retriable error outlasts the retries, and on a fatal error at once', async () => {
    broker = await fakeBroker({ errorCode: 19, times: 100 });
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', requestTimeoutMs: 2000, retries: 1 });
    await producer.connect();
    await expect(producer.send('topic-c', records, -1)).rejects.toBeInstanceOf(KafkaProtocolError);
    await broker.close();

    broker = await fakeBroker({ errorCode: 10, times: 100 }); // MESSAGE_TOO_LARGE
    producer.disconnect();
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', requestTimeoutMs: 2000, retries: 2 });
    await producer.connect();
    await expect(producer.send('topic-c', records, -1)).rejects.toMatchObject({ code: 10 });
    expect(broker.produced).toHaveLength(1);
  });

  it('rejects (never resolves) when the broker does not answer in time, and reports itself unreachable', async () => {
    broker = await fakeBroker('silent');
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', requestTimeoutMs: 300, retries: 2 });
    await producer.connect();
    await expect(producer.send('topic-d', records, -1)).rejects.toBeInstanceOf(KafkaTimeoutError);
    expect(broker.produced).toHaveLength(1); // a timeout is not retried
    expect(producer.reachable).toBe(false);
  });

  it('rejects when the broker closes the connection before answering, and when it is gone', async () => {
    broker = await fakeBroker('close');
    producer = new KafkaProducer({ brokers: [broker.address], clientId: 't', requestTimeoutMs: 1000, retries: 1 });
    await producer.connect();
    await expect(producer.send('topic-e', records, -1)).rejects.toBeInstanceOf(KafkaConnectionError);
    await broker.close();
    await expect(producer.send('topic-e', records, -1)).rejects.toBeInstanceOf(KafkaConnectionError);
    expect(producer.reachable).toBe(false);
  });

  it('finds the brokers again after they come back', async () => {
    broker = await fakeBroker('ok');
    const address = broker.address;
    producer = new KafkaProducer({ brokers: [address], clientId: 't', requestTimeoutMs: 1000, retries: 0 });
    await producer.connect();
    await producer.send('topic-f', records, -1);
    const port = Number(address.split(':')[1]);
    await broker.close();
    await expect(producer.send('topic-f', records, -1)).rejects.toBeInstanceOf(KafkaConnectionError);
    // A new broker behind the old bootstrap address.
    broker = await fakeBrokerOn(port);
    await producer.send('topic-f', records, -1);
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
