import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { Kafka, logLevel, type Consumer, type KafkaMessage, type Producer } from 'kafkajs';
import { Client } from 'pg';
import { createTestDatabase, expectEventually, freePort, requireKafka, requirePostgres } from './index';

describe('Kafka test broker', () => {
  let kafka: Kafka;
  let producer: Producer | undefined;
  let consumer: Consumer | undefined;

  beforeAll(() => {
    kafka = new Kafka({ clientId: 'testing-int', brokers: requireKafka().split(','), logLevel: logLevel.NOTHING });
  });

  afterEach(async () => {
    await consumer?.disconnect();
    await producer?.disconnect();
    consumer = producer = undefined;
  });

  it('round-trips a message with key and headers through a topic made by the admin API and a consumer group', async () => {
    const topic = `testing.roundtrip.${randomUUID()}`;
    const received: KafkaMessage[] = [];
    let crash: unknown;

    // The broker creates no topic by itself (auto.create.topics.enable=false, as in production).
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    await admin.disconnect();
    consumer = kafka.consumer({ groupId: `testing-${randomUUID()}`, sessionTimeout: 6000, maxWaitTimeInMs: 100 });
    consumer.on(consumer.events.CRASH, (event) => {
      crash = event.payload.error;
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        received.push(message);
      },
    });

    producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const [ack] = await producer.send({
      topic,
      acks: -1,
      messages: [{ key: 'device-1', value: 'hello', headers: { 'x-trace': 'abc', 'x-kind': 'test' } }],
    });
    expect(ack?.errorCode).toBe(0);

    const [message] = await expectEventually(
      () => {
        if (crash) throw new Error(`consumer crashed: ${String(crash)}`);
        expect(received).toHaveLength(1);
        return received;
      },
      { timeoutMs: 20_000, message: 'consumer did not receive the message' },
    );
    expect(message?.key?.toString()).toBe('device-1');
    expect(message?.value?.toString()).toBe('hello');
    expect(message?.headers?.['x-trace']?.toString()).toBe('abc');
    expect(message?.headers?.['x-kind']?.toString()).toBe('test');
  }, 30_000);
});

describe('createTestDatabase', () => {
  it('creates a fresh database and drops it', async () => {
    const db = await createTestDatabase('testing-int');
    const exists = async (): Promise<boolean> => {
      const admin = new Client({ connectionString: requirePostgres() });
      await admin.connect();
      try {
        const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db.name]);
        return rowCount === 1;
      } finally {
        await admin.end();
      }
    };
    expect(new URL(db.url).pathname).toBe(`/${db.name}`);
    expect(await exists()).toBe(true);

    // A connection still open at drop time is terminated, not an obstacle.
    const client = new Client({ connectionString: db.url });
    client.on('error', () => undefined);
    await client.connect();
    await client.query('CREATE TABLE t (id int PRIMARY KEY)');
    await client.query('INSERT INTO t VALUES (1)');
    const { rows } = await client.query<{ current_database: string; n: string }>(
      'SELECT current_database(), count(*) AS n FROM t',
    );
    expect(rows[0]).toEqual({ current_database: db.name, n: '1' });

    await db.drop();
    await db.drop(); // idempotent
    expect(await exists()).toBe(false);
    await client.end().catch(() => undefined);
  }, 20_000);
});

describe('expectEventually and freePort', () => {
  it('retries until the probe passes and returns its value', async () => {
    let calls = 0;
    const value = await expectEventually(
      () => {
        calls++;
        if (calls < 3) throw new Error('not yet');
        return 'ready';
      },
      { intervalMs: 5 },
    );
    expect(value).toBe('ready');
    expect(calls).toBe(3);
  });

  it('throws the last error on timeout', async () => {
    let calls = 0;
    await expect(
      expectEventually(
        async () => {
          calls++;
          throw new Error(`failure ${calls}`);
        },
        { timeoutMs: 100, intervalMs: 10, message: 'never ready' },
      ),
    ).rejects.toThrow(/^never ready within 100 ms .*last error: failure \d+$/);
    expect(calls).toBeGreaterThan(1);
  });

  it('returns a port that can be listened on', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
