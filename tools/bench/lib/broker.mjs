// The benchmarks' Kafka broker: a real Apache Kafka broker of the run's own
// (libs/testing/src/kafka-broker.js), or the one KAFKA_BROKERS names.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';

const ROOT = path.resolve(import.meta.dirname, '..', '..', '..');
const require = createRequire(import.meta.url);

/**
 * Starts a broker in a temporary folder (removed by stop()) and resolves once it also has a group
 * coordinator; with KAFKA_BROKERS set, waits for that one's coordinator and returns its address (`pid` null: its CPU is not
 * the run's to count, and `stop` leaves it alone).
 *
 * @param {{ heapMb?: number, serverProperties?: Record<string, string>, jvmFlags?: string[], log?: (line: string) => void }} options
 *   jvmFlags go to the broker's JVM through the java launcher's JDK_JAVA_OPTIONS.
 * @returns {Promise<{ brokers: string, pid: number | null, version: string, stop: () => Promise<void> }>}
 */
export async function startBenchBroker({ heapMb = 512, serverProperties = {}, jvmFlags = [], log = () => undefined } = {}) {
  if (process.env.KAFKA_BROKERS) {
    if (jvmFlags.length > 0 || Object.keys(serverProperties).length > 0) throw new Error('broker settings need a broker of the benchmark\'s own: unset KAFKA_BROKERS');
    // A broker started just before (as by the Jest global setup) may have no coordinator yet either.
    await waitForGroupCoordinator(process.env.KAFKA_BROKERS.split(',')[0]);
    return { brokers: process.env.KAFKA_BROKERS, pid: null, version: 'given by KAFKA_BROKERS', stop: async () => undefined };
  }
  const { startKafkaBroker } = require(path.join(ROOT, 'libs', 'testing', 'src', 'kafka-broker.js'));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'borealis-bench-kafka-'));
  const started = performance.now();
  const javaOptions = process.env.JDK_JAVA_OPTIONS;
  if (jvmFlags.length > 0) process.env.JDK_JAVA_OPTIONS = [javaOptions ?? '', ...jvmFlags].join(' ').trim();
  let broker;
  try {
    broker = await startKafkaBroker({ dir, heapMb, serverProperties, log });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  } finally {
    if (javaOptions === undefined) delete process.env.JDK_JAVA_OPTIONS;
    else process.env.JDK_JAVA_OPTIONS = javaOptions;
  }
  const stop = async () => {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForGroupCoordinator(broker.brokers);
  } catch (err) {
    const why = broker.running ? '' : ` (the broker exited; ${path.join(dir, 'broker.out')}: ${tail(path.join(dir, 'broker.out'))})`;
    await broker.stop();
    throw new Error(`${err.message}${why}`);
  }
  log(`Kafka ${broker.version} broker (pid ${broker.pid}) with a group coordinator in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return { brokers: broker.brokers, pid: broker.pid, version: broker.version, stop };
}

/**
 * A fresh broker creates its offsets topic on the first FindCoordinator request and answers
 * COORDINATOR_NOT_AVAILABLE until it has a leader; a service consumer that gives up meanwhile stays
 * down (the Kafka bus does not restart crashed consumers), so the services start only after this.
 */
async function waitForGroupCoordinator(brokers, timeoutMs = 60_000) {
  const kafka = new Kafka({ clientId: 'borealis-bench-probe', brokers: [brokers], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  const admin = kafka.admin();
  await admin.connect();
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        await admin.describeGroups(['borealis-bench-probe']);
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`the Kafka broker at ${brokers} has no group coordinator after ${timeoutMs} ms: ${err.message}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } finally {
    await admin.disconnect();
  }
}

function tail(file) {
  try {
    return readFileSync(file, 'utf8').slice(-2000);
  } catch {
    return '(none)';
  }
}

/** A folder for the profiles, and the JVM flag that makes the broker write a JFR recording there on exit. */
export function jfrFlag(dir) {
  mkdirSync(dir, { recursive: true });
  return `-XX:StartFlightRecording=filename=${path.join(dir, `kafka-broker-${Date.now()}.jfr`)},settings=profile,dumponexit=true`;
}
