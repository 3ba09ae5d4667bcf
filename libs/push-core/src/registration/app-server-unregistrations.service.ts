import { Injectable, Logger } from '@nestjs/common';
import type { RegistrationUnregisterRequestedV1 } from '@borealis/contracts';
import type { PublishCause } from '@borealis/messaging';
import { Clock } from '@borealis/util';
import { DeliveryRouter } from '../delivery/delivery-router';
import { DeliveryRepository } from '../persistence/delivery.repository';
import { PushDb } from '../persistence/push-db';
import { RegistrationRepository } from '../persistence/registration.repository';
import { perRow, StatsRepository } from '../persistence/stats.repository';

/**
 * App servers unregister their registrations (`DELETE .../registrations/{id}` through the gateway):
 * the registration stops being a recipient and its open deliveries fail, in one transaction; a
 * registration of another project, or one already gone, is left alone (idempotent). The device
 * is not told now: its next `registrate()` finds the registration gone and gets a new one. The
 * transports holding the devices drop a failed delivery still waiting in their inbox.
 */
@Injectable()
export class AppServerUnregistrations {
  private readonly logger = new Logger('PushCoreAppServerUnregistrations');

  constructor(
    private readonly db: PushDb,
    private readonly registrations: RegistrationRepository,
    private readonly deliveries: DeliveryRepository,
    private readonly stats: StatsRepository,
    private readonly router: DeliveryRouter,
    private readonly clock: Clock,
  ) {}

  /** `causedBy`: the bus batch being handled, when called by its handler (see `PublishOptions`). */
  async handle(batch: readonly RegistrationUnregisterRequestedV1[], causedBy?: PublishCause): Promise<void> {
    const nowMs = this.clock.now();
    const failed = await this.db.transaction(async (sql) => {
      const rows: { deviceId: string; messageId: string }[] = [];
      for (const request of batch) {
        if (!(await this.registrations.unregisterInProject(sql, request.projectId, request.registrationId, nowMs))) {
          this.logger.log({ msg: 'unregister changed nothing: no live registration of this id in this project', requestId: request.requestId, projectId: request.projectId });
          continue;
        }
        const open = await this.deliveries.failOpenOfRegistrations(sql, [request.registrationId], nowMs);
        await this.stats.bump(sql, perRow(open, 'failed', nowMs));
        for (const row of open) rows.push({ deviceId: row.device_id, messageId: row.message_id });
      }
      return rows;
    });
    await this.router.cancelQueued(failed, causedBy);
  }
}
