import { Injectable } from '@nestjs/common';
import { DomainError, ErrorCode, isValidInstanceId, type DeviceEventV1 } from '@borealis/contracts';
import type { PublishCause } from '@borealis/messaging';
import { Clock } from '@borealis/util';
import { OPEN_STATES } from '../domain/delivery-state';
import { groupBy } from '../group-by';
import { DeliveryRepository } from '../persistence/delivery.repository';
import { PushDb } from '../persistence/push-db';
import { RegistrationRepository } from '../persistence/registration.repository';
import { perRow, StatsRepository } from '../persistence/stats.repository';
import { DeliveryRouter } from './delivery-router';

/**
 * A device that connects gets its open, unexpired deliveries on the instance it connected to, in
 * acceptance order. `sent` ones are included: written to a socket that may have died before the
 * device read them; the device drops duplicates by message id. A connection also counts as the
 * device being seen (stale registrations expire), and confirms the registrations the device made
 * before this connection (unconfirmed ones expire soon). Disconnects change nothing here: presence
 * belongs to the transport.
 */
@Injectable()
export class DeviceEvents {
  constructor(
    private readonly db: PushDb,
    private readonly deliveries: DeliveryRepository,
    private readonly registrations: RegistrationRepository,
    private readonly stats: StatsRepository,
    private readonly router: DeliveryRouter,
    private readonly clock: Clock,
  ) {}

  /** `causedBy`: the bus batch being handled, when called by its handler (see `PublishOptions`). */
  async handle(batch: readonly DeviceEventV1[], causedBy?: PublishCause): Promise<void> {
    for (const event of batch) {
      if (!isValidInstanceId(event.instanceId)) {
        throw new DomainError(ErrorCode.InvalidArgument, `instanceId "${event.instanceId}" is not a transport instance id`);
      }
    }
    // Per device, the last event of the batch is the current one (one device, one partition).
    const latest = new Map(batch.map((e) => [e.deviceId, e]));
    const connectedTo = new Map([...latest.values()].filter((e) => e.kind === 'connected').map((e) => [e.deviceId, e.instanceId]));
    if (connectedTo.size === 0) return;

    const nowMs = this.clock.now();
    const deviceIds = [...connectedTo.keys()];
    await this.db.transaction(async (sql) => {
      await this.registrations.touchDevices(sql, deviceIds, nowMs);
      await this.registrations.confirmConnected(sql, [...latest.values()].filter((e) => e.kind === 'connected').map((e) => ({ deviceId: e.deviceId, atMs: e.atMs })));
      await this.stats.bump(sql, perRow(await this.deliveries.expireDue(sql, deviceIds, nowMs), 'expired', nowMs));
    });
    const open = await this.deliveries.outboundOfDevices(this.db.sql, deviceIds, OPEN_STATES, nowMs);

    const byInstance = groupBy(open, (d) => connectedTo.get(d.deviceId)!);
    await Promise.all([...byInstance].map(([instanceId, list]) => this.router.send(instanceId, list, causedBy)));
  }
}
