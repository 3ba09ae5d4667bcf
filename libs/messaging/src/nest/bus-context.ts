import { BaseRpcContext } from '@nestjs/microservices';
import { Correlation } from '../context';
import type { BusMessage } from '../message-bus';

/** The offsets one handler call covers in one partition (both inclusive). */
export interface PartitionOffsets {
  partition: number;
  first: string;
  last: string;
}

/**
 * What `@Ctx()` gives a bus handler: the batch's records (keys, headers, offsets) beside the
 * decoded values that `@Payload()` gives. One call covers one topic and one consumer group; on
 * Kafka a round may merge several partitions, each in order.
 */
export class BusContext<T = unknown> extends BaseRpcContext<[BusMessage<T>[], string]> {
  getMessages(): BusMessage<T>[] {
    return this.args[0];
  }

  getTopic(): string {
    return this.args[0][0]?.topic ?? '';
  }

  getGroup(): string {
    return this.args[1];
  }

  /** Per partition, in order of first appearance: the first and last offset of this call. */
  getPartitions(): PartitionOffsets[] {
    const byPartition = new Map<number, PartitionOffsets>();
    for (const m of this.args[0]) {
      const known = byPartition.get(m.partition);
      if (known) known.last = m.offset;
      else byPartition.set(m.partition, { partition: m.partition, first: m.offset, last: m.offset });
    }
    return [...byPartition.values()];
  }

  /** Each record's headers, in batch order. */
  getHeaders(): Record<string, string>[] {
    return this.args[0].map((m) => m.headers);
  }

  /** The request id the batch was published under, when all its records share one. */
  getRequestId(): string | undefined {
    return Correlation.ofBatch(this.args[0]);
  }
}
