/**
 * What the message bus reports about itself. The platform implements it with Prometheus metrics;
 * the bus stays free of any metrics library.
 */
export interface BusObserver {
  published(topic: string, records: number): void;
  publishFailed(topic: string, records: number): void;
  /**
   * One handler run over a batch, retries included. `failed`: the bus gave up on the batch (on
   * Kafka it is consumed again after a stop or rebalance; in process the publisher sees the error).
   */
  handled(topic: string, group: string, records: number, seconds: number, outcome: 'ok' | 'failed'): void;
  /** A handler attempt failed with a retryable error and will be retried. */
  retried(topic: string, group: string): void;
  deadLettered(topic: string, group: string, records: number): void;
  /** Records behind the partition's high watermark after this batch (Kafka only). */
  lag(topic: string, group: string, partition: number, records: number): void;
}

export const NO_BUS_OBSERVER: BusObserver = {
  published: () => undefined,
  publishFailed: () => undefined,
  handled: () => undefined,
  retried: () => undefined,
  deadLettered: () => undefined,
  lag: () => undefined,
};
