import { Injectable, Logger } from '@nestjs/common';
import { isValidInstanceId, transportInboxTopic, type DeliveryV1 } from '@borealis/contracts';
import { PresenceStore } from '@borealis/keyvalue';
import { BusClient, type PublishCause } from '@borealis/messaging';
import { Clock } from '@borealis/util';
import { groupBy } from '../group-by';
import type { OutboundDelivery } from '../persistence/delivery.repository';

/** Message ids per cancel record (the contract's limit). */
const MAX_CANCEL_IDS = 1000;

/** Keys per presence lookup: big fan-outs are looked up in slices, pipelined on one connection. */
const LOOKUP_SLICE = 1000;

/**
 * Hands deliveries to the transport instance that holds each device, on that instance's inbox.
 * Publishing does not change a delivery's state: it stays pending until the transport's `sent`
 * receipt, so a lost route costs a resend, never a message.
 */
@Injectable()
export class DeliveryRouter {
  private readonly logger = new Logger('PushCoreDeliveryRouter');

  constructor(
    private readonly bus: BusClient,
    private readonly presence: PresenceStore,
    private readonly clock: Clock,
  ) {}

  /**
   * Routes by presence (one lookup for the whole list); deliveries of offline devices wait for the
   * device's next `connected` event. `staleRoutes` names, per device, an instance known not to hold
   * it: if presence still says that instance, the device's reconnection there will flush them.
   * A handler passes its batch as `causedBy` (see `PublishOptions`). Returns the deliveries it
   * handed to a transport.
   */
  async routeByPresence(deliveries: readonly OutboundDelivery[], options: { staleRoutes?: ReadonlyMap<string, string>; causedBy?: PublishCause } = {}): Promise<OutboundDelivery[]> {
    const { staleRoutes, causedBy } = options;
    if (deliveries.length === 0) return [];
    const routes = await this.lookup([...new Set(deliveries.map((d) => d.deviceId))]);
    const routable = deliveries.filter((d) => {
      const instanceId = routes.get(d.deviceId);
      if (instanceId === undefined || staleRoutes?.get(d.deviceId) === instanceId) return false;
      if (isValidInstanceId(instanceId)) return true;
      this.logger.warn({ msg: 'presence names an invalid transport instance; treating the device as offline', deviceId: d.deviceId, instanceId });
      return false;
    });
    const byInstance = groupBy(routable, (d) => routes.get(d.deviceId)!);
    await Promise.all([...byInstance].map(([instanceId, list]) => this.send(instanceId, list, causedBy)));
    return routable;
  }

  /**
   * Tells the transports holding these devices (by presence) that these deliveries are cancelled,
   * so that one still waiting in their inbox is not written. Offline devices need nothing: they are
   * flushed only open deliveries when they connect.
   */
  async cancelQueued(pairs: readonly { deviceId: string; messageId: string }[], causedBy?: PublishCause): Promise<void> {
    if (pairs.length === 0) return;
    const routes = await this.lookup([...new Set(pairs.map((p) => p.deviceId))]);
    const atMs = this.clock.now();
    const byInstance = new Map<string, Map<string, string[]>>();
    for (const { deviceId, messageId } of pairs) {
      const instanceId = routes.get(deviceId);
      if (instanceId === undefined || !isValidInstanceId(instanceId)) continue;
      let devices = byInstance.get(instanceId);
      if (!devices) byInstance.set(instanceId, (devices = new Map()));
      let ids = devices.get(deviceId);
      if (!ids) devices.set(deviceId, (ids = []));
      ids.push(messageId);
    }
    await Promise.all(
      [...byInstance].map(([instanceId, devices]) =>
        this.bus.publishBatch(
          transportInboxTopic(instanceId),
          [...devices].flatMap(([deviceId, ids]) => chunks(ids, MAX_CANCEL_IDS).map((messageIds) => ({ value: { kind: 'cancel' as const, deviceId, messageIds, atMs } }))),
          { causedBy },
        ),
      ),
    );
  }

  private async lookup(deviceIds: readonly string[]): Promise<Map<string, string>> {
    if (deviceIds.length <= LOOKUP_SLICE) return this.presence.lookup(deviceIds);
    const slices: string[][] = [];
    for (let i = 0; i < deviceIds.length; i += LOOKUP_SLICE) slices.push(deviceIds.slice(i, i + LOOKUP_SLICE));
    const found = await Promise.all(slices.map((slice) => this.presence.lookup(slice)));
    return new Map(found.flatMap((m) => [...m]));
  }

  /** Publishes to one instance's inbox, in the given order (the topic is keyed by device). */
  async send(instanceId: string, deliveries: readonly OutboundDelivery[], causedBy?: PublishCause): Promise<void> {
    if (deliveries.length === 0) return;
    const sentAtMs = this.clock.now();
    await this.bus.publishBatch(
      transportInboxTopic(instanceId),
      deliveries.map((d) => ({ value: toDeliveryV1(d, sentAtMs) })),
      { causedBy },
    );
  }
}

function chunks<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

function toDeliveryV1(d: OutboundDelivery, sentAtMs: number): DeliveryV1 {
  return {
    kind: 'deliver',
    messageId: d.messageId,
    deviceId: d.deviceId,
    applicationId: d.applicationId,
    registrationId: d.registrationId,
    title: d.title,
    message: d.message,
    data: d.data,
    sentAtMs,
    expiresAtMs: d.expiresAtMs,
    priority: d.priority,
  };
}
