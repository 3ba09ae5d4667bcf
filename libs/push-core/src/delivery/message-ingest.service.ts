import { Injectable, Logger } from '@nestjs/common';
import type { MessageAcceptedV1 } from '@borealis/contracts';
import { Clock } from '@borealis/util';
import { admit } from '../domain/admission';
import { Delivery } from '../domain/delivery-state';
import { DeliveryRepository, type FanOutMessage } from '../persistence/delivery.repository';
import { MessageRepository, type NewMessage } from '../persistence/message.repository';
import { PushDb } from '../persistence/push-db';
import { applicationKey, RegistryViewRepository } from '../persistence/registry-view.repository';
import { DeliveryRouter } from './delivery-router';

/** Accepted messages: validate, persist with their deliveries, route to online devices. */
@Injectable()
export class MessageIngest {
  private readonly logger = new Logger('PushCoreMessageIngest');

  constructor(
    private readonly db: PushDb,
    private readonly registry: RegistryViewRepository,
    private readonly messages: MessageRepository,
    private readonly deliveries: DeliveryRepository,
    private readonly router: DeliveryRouter,
    private readonly clock: Clock,
  ) {}

  async handle(batch: readonly MessageAcceptedV1[]): Promise<void> {
    const unique = [...new Map(batch.map((m) => [m.messageId, m])).values()];
    const nowMs = this.clock.now();
    await this.db.transaction(async (sql) => {
      const projects = await this.registry.projectsActive(sql, [...new Set(unique.map((m) => m.projectId))]);
      const applications = await this.registry.applicationsActive(
        sql,
        unique.filter((m) => m.target.type === 'application').map((m) => ({ projectId: m.projectId, applicationId: m.target.value })),
      );
      const admitted: NewMessage[] = unique.map((message) => {
        const admission = admit(message, {
          projectActive: projects.get(message.projectId),
          applicationActive: applications.get(applicationKey(message.projectId, message.target.value)),
          nowMs,
        });
        return { message, outcome: admission.outcome, failureReason: admission.outcome === 'stored' ? null : admission.reason };
      });

      // Only messages stored by this call resolve recipients: a redelivered message changes nothing.
      const inserted = await this.messages.insertNew(sql, admitted, nowMs);
      const fresh = admitted.filter((a) => inserted.has(a.message.messageId));
      const toFanOut = fresh.filter((a) => a.outcome === 'stored').map((a) => fanOutOf(a.message));
      const created = await this.deliveries.fanOut(sql, toFanOut, nowMs);
      const unreachable = toFanOut.filter((m) => m.targetType === 'device' && !created.has(m.id)).map((m) => m.id);
      await this.messages.markFailed(sql, unreachable, 'no live registration in this project');

      for (const a of fresh) {
        if (a.outcome !== 'stored') this.logger.log({ msg: `message ${a.outcome}`, messageId: a.message.messageId, projectId: a.message.projectId, reason: a.failureReason });
      }
      for (const id of unreachable) this.logger.log({ msg: 'message failed', messageId: id, reason: 'no live registration in this project' });
    });

    // Presence is read only now that the deliveries are committed: a device that connected before
    // this read is found here, and one that connects after it finds them when its `connected`
    // event is handled. Pending deliveries of earlier attempts at this batch are routed too.
    const pending = await this.deliveries.outboundOfMessages(this.db.sql, unique.map((m) => m.messageId), [Delivery.pending], nowMs);
    await this.router.routeByPresence(pending);
  }
}

function fanOutOf(m: MessageAcceptedV1): FanOutMessage {
  return {
    id: m.messageId,
    projectId: m.projectId,
    targetType: m.target.type,
    targetValue: m.target.value,
    acceptedAtMs: m.acceptedAtMs,
    expiresAtMs: m.expiresAtMs,
  };
}
