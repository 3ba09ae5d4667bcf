import { Injectable, Logger } from '@nestjs/common';
import { isValidInstanceId, transportInboxTopic, type DeliveryV1 } from '@borealis/contracts';
import { PresenceStore } from '@borealis/keyvalue';
import { MessageBus } from '@borealis/messaging';
import { Clock } from '@borealis/util';
import { groupBy } from '../group-by';
import type { OutboundDelivery } from '../persistence/delivery.repository';

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
    private readonly bus: MessageBus,
    private readonly presence: PresenceStore,
    private readonly clock: Clock,
  ) {}

  /**
   * Routes by presence (one lookup for the whole list); deliveries of offline devices wait for the
   * device's next `connected` event. `staleRoutes` names, per device, an instance known not to hold
   * it: if presence still says that instance, the device's reconnection there will flush them.
   * Returns the deliveries it handed to a transport.
   */
  async routeByPresence(deliveries: readonly OutboundDelivery[], staleRoutes?: ReadonlyMap<string, string>): Promise<OutboundDelivery[]> {
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
    await Promise.all([...byInstance].map(([instanceId, list]) => this.send(instanceId, list)));
    return routable;
  }

  private async lookup(deviceIds: readonly string[]): Promise<Map<string, string>> {
    if (deviceIds.length <= LOOKUP_SLICE) return this.presence.lookup(deviceIds);
    const slices: string[][] = [];
    for (let i = 0; i < deviceIds.length; i += LOOKUP_SLICE) slices.push(deviceIds.slice(i, i + LOOKUP_SLICE));
    const found = await Promise.all(slices.map((slice) => this.presence.lookup(slice)));
    return new Map(found.flatMap((m) => [...m]));
  }

  /** Publishes to one instance's inbox, in the given order (the topic is keyed by device). */
  async send(instanceId: string, deliveries: readonly OutboundDelivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    const sentAtMs = this.clock.now();
    await this.bus.publish(
      transportInboxTopic(instanceId),
      deliveries.map((d) => ({ value: toDeliveryV1(d, sentAtMs) })),
    );
  }
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
  };
}
