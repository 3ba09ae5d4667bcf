import type { TopicDef } from '@borealis/contracts';
import { isRetryable } from '@borealis/contracts';
import type { BatchHandler, BusMessage } from './message-bus';

export interface RawRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  headers: Record<string, string>;
  value: Buffer | string;
}

export interface DeadLetter {
  record: RawRecord;
  reason: string;
}

/**
 * Decodes and validates raw records against the topic's schema. Records that do not parse are
 * returned as dead letters with the reason; they are bad input and are never retried.
 */
export function decodeRecords<T>(topic: TopicDef<T>, records: RawRecord[]): { messages: BusMessage<T>[]; rejected: DeadLetter[] } {
  const messages: BusMessage<T>[] = [];
  const rejected: DeadLetter[] = [];
  for (const record of records) {
    let json: unknown;
    try {
      json = JSON.parse(typeof record.value === 'string' ? record.value : record.value.toString('utf8'));
    } catch {
      rejected.push({ record, reason: 'value is not JSON' });
      continue;
    }
    const parsed = topic.schema.safeParse(json);
    if (!parsed.success) {
      rejected.push({ record, reason: mismatch(topic, parsed.error) });
      continue;
    }
    messages.push({ topic: record.topic, partition: record.partition, offset: record.offset, key: record.key, headers: record.headers, value: parsed.data });
  }
  return { messages, rejected };
}

/** Why a value does not match its topic's schema (a dead letter's reason), or null when it does. */
export function schemaProblem<T>(topic: TopicDef<T>, value: unknown): string | null {
  const parsed = topic.schema.safeParse(value);
  return parsed.success ? null : mismatch(topic, parsed.error);
}

function mismatch(topic: { name: string }, error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string {
  const issues = error.issues.slice(0, 5).map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
  return `does not match ${topic.name}: ${issues.join('; ')}`;
}

export interface RetryPolicy {
  /** Attempts before the error is handed back to the driver (Infinity: retry until stopped). */
  maxAttempts: number;
  delay(attempt: number): number;
  sleep(ms: number): Promise<void>;
  isStopping(): boolean;
  /** Told of each retryable failure before the pause that precedes the next attempt. */
  onRetry?(err: unknown): void;
}

/**
 * Runs a handler on a batch with the one retry decision of the system (`isRetryable`):
 * - success: done;
 * - a bad-input error: the batch is replayed one message at a time so that only the offending
 *   messages are dead-lettered (handlers are idempotent, so replaying the rest is safe);
 * - anything else: retried with backoff until it succeeds, the policy gives up, or the driver stops.
 * Returns the dead letters; throws the last retryable error when the policy gives up.
 */
export async function runHandler<T>(handler: BatchHandler<T>, messages: BusMessage<T>[], policy: RetryPolicy): Promise<DeadLetter[]> {
  if (messages.length === 0) return [];
  for (let attempt = 0; ; attempt++) {
    try {
      await handler(messages);
      return [];
    } catch (err) {
      if (!isRetryable(err)) {
        if (messages.length === 1) return [{ record: toRaw(messages[0]!), reason: errorText(err) }];
        const dead: DeadLetter[] = [];
        for (const message of messages) dead.push(...(await runHandler(handler, [message], policy)));
        return dead;
      }
      if (attempt + 1 >= policy.maxAttempts || policy.isStopping()) throw err;
      policy.onRetry?.(err);
      await policy.sleep(policy.delay(attempt));
    }
  }
}

function toRaw<T>(message: BusMessage<T>): RawRecord {
  return { ...message, value: JSON.stringify(message.value) };
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
