import { Injectable } from '@nestjs/common';
import { Topics, type MessageAcceptedV1 } from '@borealis/contracts';
import { BusClient, REQUEST_ID_HEADER, type PublishRecord } from '@borealis/messaging';

/**
 * Publishes in flight at once; further messages wait and leave together in the next batch. One:
 * a produce request costs far more CPU than a record in it, so the fewer and fuller the batches,
 * the more the gateway accepts.
 */
const MAX_IN_FLIGHT = 1;
const MAX_BATCH = 500;

interface Waiting {
  record: PublishRecord<MessageAcceptedV1>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Publishes accepted messages in batches: those that reach it in the same event-loop turn (under
 * load, the requests whose Redis answers arrived together) and those that arrive while a publish is
 * in flight. No timer: the batch leaves at the end of the turn, so an idle gateway publishes each
 * message at once. Each caller is answered only when
 * its own batch is durable (acks from all in-sync replicas), and a failed batch fails every caller
 * in it, so batching never turns a 503 into a 200.
 */
@Injectable()
export class AcceptedPublisher {
  private readonly waiting: Waiting[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(private readonly bus: BusClient) {}

  /** `requestId` goes into the record's headers (each record its own request's id, whichever request's turn drains the batch). */
  publish(event: MessageAcceptedV1, requestId?: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ record: { value: event, ...(requestId ? { headers: { [REQUEST_ID_HEADER]: requestId } } : {}) }, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.drain();
        });
      }
    });
  }

  private drain(): void {
    while (this.inFlight < MAX_IN_FLIGHT && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, MAX_BATCH);
      this.inFlight++;
      this.bus
        .publishBatch(
          Topics.messageAccepted,
          batch.map((w) => w.record),
        )
        .then(
          () => batch.forEach((w) => w.resolve()),
          (err: unknown) => batch.forEach((w) => w.reject(err)),
        )
        .finally(() => {
          this.inFlight--;
          this.drain();
        });
    }
  }
}
