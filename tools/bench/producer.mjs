// Producer benchmark: CPU time per record of Borealis's own Kafka producer (libs/messaging,
// idempotent and not) beside kafkajs's producer (idempotent and not), on a real Apache Kafka broker,
// in the same run. Each client runs in its own process (so that one's garbage is not another's
// CPU) and writes the same records: sends of --batch records (a coalesced publish), --concurrency
// of them in flight, acks -1, to a topic of 12 partitions. Reported per client: the median over
// --rounds rounds of (user + system CPU of that process) / records, and records per second.
//
//   npm run build && npm run bench -- producer [--records 20000] [--batch 100] [--concurrency 4] [--rounds 5]
//
// Uses KAFKA_BROKERS when set, else starts a broker from libs/testing/src/kafka-broker.js (Java 17+
// and Maven, as the tests). One file, two roles (BENCH_ROLE): the orchestrator and a client.
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const require = createRequire(import.meta.url);
const CLIENTS = ['borealis-idempotent', 'borealis', 'kafkajs', 'kafkajs-idempotent'];

const { values: opts } = parseArgs({
  options: {
    records: { type: 'string', default: '20000' },
    batch: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '5' },
    clients: { type: 'string', default: CLIENTS.join(',') },
  },
});
const RECORDS = Number(opts.records);
const BATCH = Number(opts.batch);
const CONCURRENCY = Number(opts.concurrency);
const ROUNDS = Number(opts.rounds);

/** Records like the gateway's accepted messages: a key per device, about 450 bytes of JSON, a request id. */
function records(round) {
  return Array.from({ length: RECORDS }, (_, i) => ({
    key: `bench-project:device:r1_${String(i % 5000).padStart(43, 'x')}`,
    value: JSON.stringify({
      messageId: `m-${round}-${i}-${'0'.repeat(20)}`,
      projectId: 'bench-project',
      target: { type: 'device', value: `r1_${String(i % 5000).padStart(43, 'x')}` },
      notification: { title: 'Breaking news', message: 'A short message body of the length most pushes have, about a hundred characters.', data: '{"articleId":"a-18734"}' },
      ttlSeconds: 3600,
      priority: 'normal',
      acceptedAtMs: 1_764_000_000_000 + i,
      expiresAtMs: 1_764_003_600_000 + i,
    }),
    headers: { 'x-request-id': `req-${round}-${i}` },
  }));
}

/** Sends `all` in batches, `CONCURRENCY` at a time, through `send(batch)`. */
async function drive(all, send) {
  let next = 0;
  const lane = async () => {
    while (next < all.length) {
      const batch = all.slice(next, next + BATCH);
      next += BATCH;
      await send(batch);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
}

async function client(kind, brokers, topic) {
  let send;
  let close;
  if (kind.startsWith('borealis')) {
    const { KafkaProducer } = require(path.join(ROOT, 'dist', 'libs', 'messaging', 'src', 'kafka-producer.js'));
    const producer = new KafkaProducer({ brokers: [brokers], clientId: 'bench', requestTimeoutMs: 30_000, retries: 2, idempotent: kind === 'borealis-idempotent' });
    await producer.connect();
    send = (batch) => producer.send(topic, batch);
    close = async () => producer.disconnect();
  } else {
    const { Kafka, logLevel } = require('kafkajs');
    const idempotent = kind === 'kafkajs-idempotent';
    const kafka = new Kafka({ clientId: 'bench', brokers: [brokers], logLevel: logLevel.NOTHING });
    // kafkajs keeps order with idempotence only with one request in flight per broker.
    const producer = kafka.producer({ idempotent, maxInFlightRequests: idempotent ? 1 : undefined, allowAutoTopicCreation: false });
    await producer.connect();
    send = (batch) => producer.send({ topic, acks: -1, messages: batch.map((r) => ({ key: r.key, value: r.value, headers: r.headers })) });
    close = () => producer.disconnect();
  }
  const results = [];
  for (let round = -1; round < ROUNDS; round++) {
    const all = records(round);
    if (global.gc) global.gc();
    const cpu = process.cpuUsage();
    const started = performance.now();
    await drive(all, send);
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    if (round >= 0) results.push({ cpuUsPerRecord: (used.user + used.system) / all.length, recordsPerSecond: all.length / seconds });
  }
  await close();
  return results;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function orchestrate() {
  let brokers = process.env.KAFKA_BROKERS;
  let broker;
  if (!brokers) {
    const { startKafkaBroker } = require(path.join(ROOT, 'libs', 'testing', 'src', 'kafka-broker.js'));
    broker = await startKafkaBroker({ log: (line) => process.stderr.write(`${line}\n`) });
    brokers = broker.brokers;
  }
  const { Kafka, logLevel } = require('kafkajs');
  const admin = new Kafka({ clientId: 'bench-admin', brokers: [brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  const summary = [];
  try {
    for (const kind of opts.clients.split(',')) {
      const topic = `borealis.bench.producer.${kind}.${Date.now()}`;
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 12, replicationFactor: 1 }] });
      const results = await new Promise((resolve, reject) => {
        const child = fork(import.meta.filename, [...process.argv.slice(2)], {
          env: { ...process.env, BENCH_ROLE: 'client', BENCH_CLIENT: kind, BENCH_BROKERS: brokers, BENCH_TOPIC: topic, KAFKAJS_NO_PARTITIONER_WARNING: '1' },
          execArgv: ['--expose-gc'],
        });
        child.once('message', resolve);
        child.once('exit', (code) => code !== 0 && reject(new Error(`${kind} exited with ${code}`)));
      });
      const written = (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
      const row = {
        client: kind,
        cpuUsPerRecord: median(results.map((r) => r.cpuUsPerRecord)),
        rounds: results.map((r) => Math.round(r.cpuUsPerRecord * 100) / 100),
        recordsPerSecond: Math.round(median(results.map((r) => r.recordsPerSecond))),
        written,
      };
      summary.push(row);
      process.stderr.write(`${JSON.stringify(row)}\n`);
    }
  } finally {
    await admin.disconnect();
    await broker?.stop();
  }
  const base = summary.find((r) => r.client === 'borealis-idempotent') ?? summary[0];
  process.stdout.write(
    `${JSON.stringify({ date: new Date().toISOString(), broker: broker ? `Apache Kafka ${broker.version} (local, KRaft)` : brokers, records: RECORDS, batch: BATCH, concurrency: CONCURRENCY, rounds: ROUNDS, results: summary.map((r) => ({ ...r, cpuUsPerRecord: Math.round(r.cpuUsPerRecord * 100) / 100, ratioToBorealisIdempotent: Math.round((r.cpuUsPerRecord / base.cpuUsPerRecord) * 100) / 100 })) }, null, 2)}\n`,
  );
}

if (process.env.BENCH_ROLE === 'client') {
  client(process.env.BENCH_CLIENT, process.env.BENCH_BROKERS, process.env.BENCH_TOPIC).then(
    (results) => {
      process.send(results);
      process.exit(0);
    },
    (err) => {
      process.stderr.write(`${err.stack ?? err}\n`);
      process.exit(1);
    },
  );
} else {
  orchestrate().catch((err) => {
    process.stderr.write(`${err.stack ?? err}\n`);
    process.exit(1);
  });
}
