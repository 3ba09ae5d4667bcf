import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKafkaBroker, type KafkaBrokerHandle } from './kafka-broker';

/**
 * A real Kafka broker of the calling test's own, so that the test can kill or restart it: the
 * shared broker of the Jest global setup must stay up for the others. `restart()` starts the same
 * broker again (same ports, data and credentials); `close()` stops it and removes its folder.
 */
export interface OwnKafkaBroker {
  broker: KafkaBrokerHandle;
  brokers: string;
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startOwnKafkaBroker(serverProperties: Record<string, string> = {}): Promise<OwnKafkaBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'borealis-own-kafka-'));
  const own: OwnKafkaBroker = {
    broker: await startKafkaBroker({ dir, serverProperties, heapMb: 384 }),
    get brokers() {
      return own.broker.brokers;
    },
    async restart() {
      await own.broker.stop();
      own.broker = await startKafkaBroker({ dir, serverProperties, heapMb: 384 });
    },
    async close() {
      await own.broker.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return own;
}
