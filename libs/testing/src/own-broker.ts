import { spawn, type ChildProcess } from 'node:child_process';

/**
 * A Kafka-protocol broker of the calling test's own (librdkafka's mock cluster through kcat), so
 * that the test can kill it: the shared broker of the Jest global setup must stay up for the
 * others. Resolves with its bootstrap address once kcat has printed it.
 */
export function startOwnKafkaBroker(): Promise<{ brokers: string; child: ChildProcess }> {
  const child = spawn('kcat', ['-b', 'unused:1', '-X', 'test.mock.num.brokers=1', '-C', '-t', 'KEEPALIVE', '-o', 'end', '-q'], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let seen = '';
    child.on('error', (err) => reject(new Error(`kcat could not start a Kafka mock for this test (apt-get install -y kcat): ${err.message}`)));
    child.on('exit', (code) => reject(new Error(`kcat exited (${code}) before announcing its mock broker: ${seen.trim()}`)));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      seen += chunk;
      const match = /bootstrap\.servers=(127\.0\.0\.1:\d+)/.exec(seen) ?? /replaced with (127\.0\.0\.1:\d+)/.exec(seen);
      if (match) resolve({ brokers: match[1]!, child });
    });
  });
}
