// The Apache Kafka broker the project runs without containers (tests, CI, benchmarks, and a local
// distributed installation). See docs/operations.md, "Distributed mode without containers".
//
//   npm run kafka -- fetch              resolve the broker's jars from Maven Central into .cache/
//   npm run kafka -- run [--dir DIR]    start one KRaft broker/controller and keep it running until
//                                       Ctrl-C or SIGTERM (then it stops cleanly); prints its
//                                       listeners and credentials file as one JSON line. DIR (default
//                                       .data/kafka) keeps its data: running again restarts the
//                                       same broker on the same ports.
//     --heap-mb 512                     the JVM's heap cap
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const ROOT = path.resolve(import.meta.dirname, '..');
const { ensureKafkaJars, startKafkaBroker } = require(path.join(ROOT, 'libs', 'testing', 'src', 'kafka-broker.js'));
const log = (line) => process.stderr.write(`[kafka] ${line}\n`);

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: { dir: { type: 'string', default: path.join(ROOT, '.data', 'kafka') }, 'heap-mb': { type: 'string', default: '512' } },
});

const command = positionals[0];
if (command === 'fetch') {
  ensureKafkaJars({ log });
} else if (command === 'run') {
  const broker = await startKafkaBroker({ dir: path.resolve(values.dir), heapMb: Number(values['heap-mb']), log });
  process.stdout.write(
    `${JSON.stringify({
      event: 'ready',
      version: broker.version,
      plaintext: broker.brokers,
      saslSsl: broker.saslSsl.brokers,
      ssl: broker.ssl.brokers,
      ca: broker.saslSsl.ca,
      credentials: path.join(broker.dir, 'credentials.json'),
      log: broker.log,
    })}\n`,
  );
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log('stopping the broker');
    await broker.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await broker.exited;
  if (!stopping) {
    log(`the broker exited by itself; its log: ${broker.log}`);
    process.exit(1);
  }
} else {
  process.stderr.write('usage: npm run kafka -- fetch | run [--dir DIR] [--heap-mb N]\n');
  process.exit(2);
}
