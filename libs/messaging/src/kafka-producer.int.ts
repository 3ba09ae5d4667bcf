import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { expectEventually, kafkaSaslSsl, kafkaSsl, requireKafka } from '@borealis/testing';
import { randomToken } from '@borealis/util';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaProducer, KafkaTlsError } from './kafka-producer';
import { KafkaAuthenticationError } from './kafka-sasl';
import { ApiKey, type WireRecord } from './kafka-wire';

jest.setTimeout(90_000);

const run = randomToken(4).toLowerCase().replace(/[^a-z0-9]/g, 'x');
const admin = () => new Kafka({ brokers: [requireKafka()], clientId: 'producer-int-admin', logLevel: logLevel.NOTHING }).admin();

async function createTopic(name: string, partitions: number): Promise<void> {
  const a = admin();
  await a.connect();
  try {
    await a.createTopics({ waitForLeaders: true, topics: [{ topic: name, numPartitions: partitions, replicationFactor: 1 }] });
  } finally {
    await a.disconnect();
  }
}

/** Records written to the topic: the sum of its partitions' high watermarks (no transactions, so no markers). */
async function writtenTo(topic: string): Promise<number> {
  const a = admin();
  await a.connect();
  try {
    return (await a.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
  } finally {
    await a.disconnect();
  }
}

/** Consumes the topic from the beginning until `expected` records came, and returns their values. */
async function consume(topic: string, expected: number): Promise<string[]> {
  const consumer = new Kafka({ brokers: [requireKafka()], clientId: 'producer-int-reader', logLevel: logLevel.NOTHING }).consumer({ groupId: `reader.${topic}`, maxWaitTimeInMs: 100 });
  const values: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void values.push(message.value!.toString()) });
    await expectEventually(() => expect(values.length).toBeGreaterThanOrEqual(expected), { timeoutMs: 30_000 });
  } finally {
    await consumer.disconnect();
  }
  return values;
}

const recordsOf = (n: number, tag: string): WireRecord[] => Array.from({ length: n }, (_, i) => ({ key: `key-${i % 17}`, value: `${tag}-${i}`, headers: {} }));

/**
 * A TCP proxy in front of the test broker that lets the producer believe the proxy is the broker
 * (it rewrites the addresses in Metadata answers) and loses the first Produce answer: `drop`
 * swallows it and closes the connection at once; `delay` holds it past the producer's request
 * timeout (the producer gives up and closes). The broker did write those records.
 */
async function lossyProxy(mode: 'drop' | 'delay'): Promise<{ address: string; producesSeen: () => number; close(): Promise<void> }> {
  const [host, port] = requireKafka().split(',')[0]!.split(':') as [string, string];
  const sockets = new Set<Socket>();
  let produces = 0;
  let lost = false;
  const server: Server = createServer((client) => {
    const broker = connect(Number(port), host);
    sockets.add(client).add(broker);
    const apiOf = new Map<number, { apiKey: number; version: number }>();
    const closeBoth = () => {
      client.destroy();
      broker.destroy();
    };
    client.on('error', closeBoth).on('close', closeBoth);
    broker.on('error', closeBoth).on('close', closeBoth);
    frames(client, (frame) => {
      const apiKey = frame.readInt16BE(4);
      apiOf.set(frame.readInt32BE(8), { apiKey, version: frame.readInt16BE(6) });
      if (apiKey === ApiKey.Produce) produces++;
      broker.write(frame);
    });
    frames(broker, (frame) => {
      const api = apiOf.get(frame.readInt32BE(4));
      if (api?.apiKey === ApiKey.Produce && !lost) {
        lost = true;
        if (mode === 'drop') closeBoth();
        return; // 'delay': never forwarded; the producer times out and closes
      }
      client.write(api?.apiKey === ApiKey.Metadata && api.version === 1 ? rewriteBrokers(frame, '127.0.0.1', proxyPort) : frame);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxyPort = (server.address() as { port: number }).port;
  return {
    address: `127.0.0.1:${proxyPort}`,
    producesSeen: () => produces,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Calls `onFrame` with each whole size-prefixed Kafka frame read from the socket. */
function frames(socket: Socket, onFrame: (frame: Buffer) => void): void {
  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
      const size = 4 + buffered.readInt32BE(0);
      onFrame(buffered.subarray(0, size));
      buffered = buffered.subarray(size);
    }
  });
}

/** A Metadata v1 answer with every broker's address replaced by the proxy's. */
function rewriteBrokers(frame: Buffer, host: string, port: number): Buffer {
  let at = 8; // size, correlation id
  const count = frame.readInt32BE(at);
  at += 4;
  const brokers: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const nodeId = frame.readInt32BE(at);
    at += 4;
    at += 2 + frame.readInt16BE(at); // host
    at += 4; // port
    const rackLength = frame.readInt16BE(at);
    const rack = frame.subarray(at, at + 2 + Math.max(0, rackLength));
    at += rack.length;
    const hostBytes = Buffer.from(host);
    const b = Buffer.alloc(4 + 2 + hostBytes.length + 4);
    b.writeInt32BE(nodeId, 0);
    b.writeInt16BE(hostBytes.length, 4);
    hostBytes.copy(b, 6);
    b.writeInt32BE(port, 6 + hostBytes.length);
    brokers.push(b, rack);
  }
  const countBytes = Buffer.alloc(4);
  countBytes.writeInt32BE(count, 0);
  const body = Buffer.concat([frame.subarray(4, 8), countBytes, ...brokers, frame.subarray(at)]);
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length, 0);
  return Buffer.concat([size, body]);
}

describe('KafkaProducer on the Apache Kafka broker', () => {
  let producer: KafkaProducer | undefined;
  afterEach(() => producer?.disconnect());

  it('negotiates the versions it uses with the broker (ApiVersions)', async () => {
    producer = new KafkaProducer({ brokers: [requireKafka()], clientId: 'producer-int', requestTimeoutMs: 5000, retries: 2 });
    await producer.connect();
    expect(await producer.apiVersions()).toEqual({ ApiVersions: 0, Metadata: 1, Produce: 8, InitProducerId: 1 });
  });

  it.each([
    ['drop', true, 1],
    ['delay', true, 1],
    ['drop', false, 2],
  ] as const)('a Produce answer lost (%s), idempotent %s: the retry leaves each record written %i time(s)', async (mode, idempotent, times) => {
    const topic = `borealis.test.lost-answer.${mode}.${idempotent}.${run}`;
    await createTopic(topic, 3);
    const proxy = await lossyProxy(mode);
    try {
      producer = new KafkaProducer({ brokers: [proxy.address], clientId: 'producer-int', requestTimeoutMs: mode === 'delay' ? 1500 : 5000, retries: 3, idempotent });
      await producer.connect();
      const sent = recordsOf(50, 'lost');
      await producer.send(topic, sent);
      // The first request's answer was lost, so at least one went again.
      expect(proxy.producesSeen()).toBeGreaterThanOrEqual(2);
      const values = await consume(topic, sent.length * times);
      expect(await writtenTo(topic)).toBe(sent.length * times);
      expect(values.sort()).toEqual(sent.flatMap((r) => Array<string>(times).fill(r.value)).sort());
    } finally {
      await proxy.close();
    }
  });

  it('splits what the broker would refuse as one request (message.max.bytes) into requests it takes', async () => {
    const topic = `borealis.test.request-size.${run}`;
    await createTopic(topic, 1);
    // About 3 MB for one partition: as one request the broker refuses it (MESSAGE_TOO_LARGE).
    const big = Array.from({ length: 300 }, (_, i) => ({ key: 'one-key', value: `${i}:${'z'.repeat(10_000)}`, headers: {} }));
    const unlimited = new KafkaProducer({ brokers: [requireKafka()], clientId: 'producer-int', requestTimeoutMs: 10_000, retries: 0, maxRequestBytes: 50_000_000 });
    await unlimited.connect();
    try {
      await expect(unlimited.send(topic, big)).rejects.toMatchObject({ code: 10 });
    } finally {
      unlimited.disconnect();
    }
    producer = new KafkaProducer({ brokers: [requireKafka()], clientId: 'producer-int', requestTimeoutMs: 10_000, retries: 2 });
    await producer.connect();
    await producer.send(topic, big);
    expect(await writtenTo(topic)).toBe(300);
    const values = await consume(topic, 300);
    expect(values.map((v) => Number(v.split(':')[0]))).toEqual(big.map((_, i) => i)); // in order
  });
});

describe('KafkaProducer with TLS and SASL on the Apache Kafka broker', () => {
  let producer: KafkaProducer | undefined;
  afterEach(() => producer?.disconnect());

  it('fails clearly and at once with a wrong SCRAM password', async () => {
    const listener = kafkaSaslSsl();
    producer = new KafkaProducer({
      brokers: [listener.brokers],
      clientId: 'producer-int',
      requestTimeoutMs: 5000,
      retries: 2,
      tls: { ca: readFileSync(listener.ca), rejectUnauthorized: true },
      sasl: { mechanism: 'scram-sha-256', username: listener.scram.username, password: 'not-the-password' },
    });
    const started = Date.now();
    const failure = producer.connect();
    await expect(failure).rejects.toBeInstanceOf(KafkaAuthenticationError);
    await expect(failure).rejects.toThrow(`SASL SCRAM-SHA-256 authentication as "${listener.scram.username}" with Kafka broker ${listener.brokers} failed`);
    await expect(failure).rejects.not.toThrow(/not-the-password/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses a broker whose certificate no trusted CA signed', async () => {
    const listener = kafkaSaslSsl();
    producer = new KafkaProducer({
      brokers: [listener.brokers],
      clientId: 'producer-int',
      requestTimeoutMs: 5000,
      retries: 2,
      tls: { rejectUnauthorized: true },
      sasl: { mechanism: 'plain', ...listener.plain },
    });
    await expect(producer.connect()).rejects.toThrow(KafkaTlsError);
    await expect(producer.connect()).rejects.toThrow(/not signed by a trusted CA: set KAFKA_SSL_CA_FILE/);
  });

  it('refuses, on the mutual-TLS listener, a client without a certificate', async () => {
    const listener = kafkaSsl();
    producer = new KafkaProducer({ brokers: [listener.brokers], clientId: 'producer-int', requestTimeoutMs: 5000, retries: 2, tls: { ca: readFileSync(listener.ca), rejectUnauthorized: true } });
    const started = Date.now();
    const failure = producer.connect();
    await expect(failure).rejects.toBeInstanceOf(KafkaTlsError);
    await expect(failure).rejects.toThrow(/client certificate/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('a PLAIN producer on the plaintext listener of a SASL_SSL port fails, not hangs', async () => {
    const listener = kafkaSaslSsl();
    producer = new KafkaProducer({ brokers: [listener.brokers], clientId: 'producer-int', requestTimeoutMs: 3000, retries: 0 });
    await expect(producer.connect()).rejects.toThrow(/KAFKA_SSL|did not answer/);
  });
});
