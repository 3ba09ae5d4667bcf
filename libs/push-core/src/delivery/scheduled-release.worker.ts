import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Clock } from '@borealis/util';
import { BackgroundLoop } from '../background-loop';
import { DeliveryRepository } from '../persistence/delivery.repository';
import { FanOutJobRepository } from '../persistence/fanout-job.repository';
import { PushDb } from '../persistence/push-db';
import { DeliveryRouter } from './delivery-router';
import { FanOutWorker } from './fan-out.worker';

/** How often due scheduled sends are looked for: a scheduled push goes out within this of its time. */
export const SCHEDULE_TICK_MS = 1000;
/** Deliveries released per transaction. */
const RELEASE_BATCH = 1000;

/**
 * Scheduled sends (`send_at`). A device-targeted or multicast message's deliveries are stored at
 * once, held (`not_before_ms`) until their time: no reconnect flush or re-route sends them early.
 * When the time comes, this loop routes them by presence and clears the hold in the same
 * transaction (their rows locked, so two push-core instances never release the same ones); an
 * offline device gets them at its next connection like any pending delivery. A crash between the
 * publish and the commit routes them again: the device drops the duplicate. A group message's
 * fan-out job waits for its time the same way, and is handed to the fan-out worker then. Held
 * deliveries can be cancelled and expire like any other; all of it is in PostgreSQL, so it survives
 * restarts.
 */
@Injectable()
export class ScheduledRelease implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('PushCoreScheduledRelease');
  private readonly loop: BackgroundLoop;

  constructor(
    private readonly db: PushDb,
    private readonly deliveries: DeliveryRepository,
    private readonly jobs: FanOutJobRepository,
    private readonly router: DeliveryRouter,
    private readonly fanOut: FanOutWorker,
    private readonly clock: Clock,
  ) {
    this.loop = new BackgroundLoop('scheduled release', () => this.step(), SCHEDULE_TICK_MS, this.logger);
  }

  onApplicationBootstrap(): void {
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop.stop();
  }

  /** Releases one batch; true when there may be more due now. */
  private async step(): Promise<boolean> {
    const nowMs = this.clock.now();
    if ((await this.jobs.releaseDue(this.db.sql, nowMs)) > 0) this.fanOut.kick();
    const released = await this.db.transaction(async (sql) => {
      const due = await this.deliveries.lockDueScheduled(sql, nowMs, RELEASE_BATCH);
      if (due.length === 0) return 0;
      await this.router.routeByPresence(due);
      await this.deliveries.clearSchedule(sql, due);
      return due.length;
    });
    if (released > 0) this.logger.debug({ msg: 'scheduled deliveries released', deliveries: released });
    return released === RELEASE_BATCH;
  }
}
