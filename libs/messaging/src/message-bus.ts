import type { TopicDef } from '@borealis/contracts';

export interface PublishRecord<T> {
  value: T;
  /** Defaults to the topic's key function applied to the value. */
  key?: string;
  headers?: Record<string, string>;
}

export interface BusMessage<T> {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  headers: Record<string, string>;
  value: T;
}

/**
 * Handles a batch of decoded, validated messages. Throwing retries the batch (every handler must
 * be idempotent: delivery is at least once), unless the error is bad input per `isRetryable` from
 * @borealis/contracts: then the bus isolates the offending message and dead-letters it.
 */
export type BatchHandler<T> = (messages: BusMessage<T>[]) => Promise<void>;

export interface Subscription<T> {
  topic: TopicDef<T>;
  /** Consumer group. Every group receives every message; members of one group share them. */
  group: string;
  /**
   * Where a group without a committed offset starts. Default true (earliest): a new group must
   * not skip what was published before it first joined, or an accepted message could be lost.
   */
  fromBeginning?: boolean;
  /**
   * In one process (the in-process driver), how long the first record of a batch waits for more
   * before the handler is called; default 0, at once. For a consumer whose cost is per call (a
   * statement, a round trip to PostgreSQL) and whose publishers can afford the wait. A Kafka
   * consumer's batches are what each fetch brings.
   */
  batchWaitMs?: number;
  handler: BatchHandler<T>;
}

/** The records a handler is handling when it publishes (`PublishOptions.causedBy`): its batch's `BusMessage`s will do. */
export type PublishCause = readonly { headers: Record<string, string> }[];

export interface PublishOptions {
  /**
   * The values were not typed against the topic's schema by the compiler (Nest's `emit` takes any
   * data): the in-process bus checks them against the schema before a handler sees them, as every
   * Kafka consumer does with every record, and dead-letters what does not match.
   */
  unchecked?: boolean;
  /**
   * Set by a handler that publishes: the batch it is handling (its `messages`, or those these
   * records come from). It marks the publish as a handler's, so the in-process bus queues the
   * records without waiting for their handling (waiting could deadlock a cycle of topics: see
   * InProcessMessageBus), and a record without a request id gets the one these messages share, so
   * the id follows a push through every hop even where it is not carried implicitly (`Correlation`).
   * A handler that publishes without it, in one process, waits for its records' handlers.
   */
  causedBy?: PublishCause;
}

/**
 * The messaging port. Two drivers implement it: Kafka (distributed mode) and an in-process bus
 * (standalone mode). The same handlers run on both.
 *
 * `publish` resolves only when the records are durable: on Kafka, acknowledged by all in-sync
 * replicas; in process, handled by every subscribed group. It rejects otherwise.
 */
export abstract class MessageBus {
  abstract publish<T>(topic: TopicDef<T>, records: PublishRecord<NoInfer<T>>[], options?: PublishOptions): Promise<void>;
  /** Registers a consumer; call before `start()` (later calls start consuming at once). */
  abstract subscribe<T>(subscription: Subscription<T>): Promise<void>;
  abstract start(): Promise<void>;
  abstract stop(): Promise<void>;
  /** True once connected and every registered consumer has joined. */
  abstract isReady(): boolean;
}
