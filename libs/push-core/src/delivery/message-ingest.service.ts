import { Injectable, Logger } from '@nestjs/common';
import type { MessageAcceptedV1 } from '@borealis/contracts';
import type { PublishCause } from '@borealis/messaging';
import { Clock } from '@borealis/util';
import { admit } from '../domain/admission';
import { Delivery } from '../domain/delivery-state';
import { deliveryExpiry, isNowOrNever } from '../domain/expiry';
import type { MessageOutcome } from '../domain/message-status';
import type { StatIncrement } from '../domain/stats';
import { groupBy } from '../group-by';
import { DeliveryRepository, type DeviceTargetMessage, type OutboundDelivery, type RecipientOfMessage } from '../persistence/delivery.repository';
import { FanOutJobRepository } from '../persistence/fanout-job.repository';
import { MessageRepository, type NewMessage } from '../persistence/message.repository';
import { PushDb, type Sql } from '../persistence/push-db';
import { applicationKey, RegistryViewRepository } from '../persistence/registry-view.repository';
import { perRow, StatsRepository } from '../persistence/stats.repository';
import { DeliveryRouter } from './delivery-router';
import { FanOutWorker } from './fan-out.worker';

const NO_LIVE_REGISTRATION = 'no live registration in this project';

/** What storing a batch gives routing: the messages this call stored, and the pending deliveries it created. */
interface StoredBatch {
  groupJobs: number;
  created: { messageIds: Set<string>; deliveries: CreatedDelivery[] };
}

/** A row of `MessageRepository.storeListedStatement`. */
interface ListedRow {
  kind: 'message' | 'delivery';
  id: string;
  outcome: MessageOutcome | null;
  failure_reason: string | null;
  registration_id: string | null;
  device_id: string | null;
  application_id: string | null;
}

/** A message `storeListed` takes: a listed target, no collapse key (collapsing needs its own statements). */
function storedInOneStatement(message: MessageAcceptedV1): boolean {
  return isListedTarget(message) && message.collapseKey === null;
}

/** A pending delivery this call created, with what routing needs and what orders it. */
export interface CreatedDelivery extends OutboundDelivery {
  acceptedAtMs: number;
  notBeforeMs: number | null;
}

function createdDelivery(recipient: RecipientOfMessage, stored: NewMessage): CreatedDelivery {
  const { message } = stored;
  return {
    messageId: recipient.messageId,
    deviceId: recipient.deviceId,
    applicationId: recipient.applicationId,
    registrationId: recipient.registrationId,
    title: message.notification.title,
    message: message.notification.message,
    data: message.notification.data,
    expiresAtMs: stored.expiresAtMs,
    priority: message.priority,
    acceptedAtMs: message.acceptedAtMs,
    notBeforeMs: message.sendAtMs ?? null,
  };
}

/**
 * What `DeliveryRepository.outboundOfMessages` would read back of these pending deliveries: the
 * unexpired and due ones, per device `high` priority first, then in acceptance order.
 */
export function routableNow(created: readonly CreatedDelivery[], nowMs: number): OutboundDelivery[] {
  return created
    .filter((d) => d.expiresAtMs > nowMs && (d.notBeforeMs === null || d.notBeforeMs <= nowMs))
    .sort(
      (a, b) =>
        compare(a.deviceId, b.deviceId) ||
        Number(b.priority === 'high') - Number(a.priority === 'high') ||
        a.acceptedAtMs - b.acceptedAtMs ||
        compare(a.messageId, b.messageId),
    );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Targets whose recipients the message names (one registration, or a multicast's list), not a group to fan out. */
function isListedTarget(message: MessageAcceptedV1): boolean {
  return message.target.type === 'device' || message.target.type === 'registrations';
}

/**
 * Accepted messages: validate, persist (idempotent by message id), count. A device-targeted
 * message gets its delivery at once and is routed; a group message becomes a fan-out job that the
 * FanOutWorker streams, so a message to 100,000 registrations never holds up this consumer.
 */
@Injectable()
export class MessageIngest {
  private readonly logger = new Logger('PushCoreMessageIngest');

  constructor(
    private readonly db: PushDb,
    private readonly registry: RegistryViewRepository,
    private readonly messages: MessageRepository,
    private readonly deliveries: DeliveryRepository,
    private readonly jobs: FanOutJobRepository,
    private readonly stats: StatsRepository,
    private readonly router: DeliveryRouter,
    private readonly fanOut: FanOutWorker,
    private readonly clock: Clock,
  ) {}

  /** `causedBy`: the bus batch being handled, when called by its handler (see `PublishOptions`). */
  async handle(batch: readonly MessageAcceptedV1[], causedBy?: PublishCause): Promise<void> {
    const unique = [...new Map(batch.map((m) => [m.messageId, m])).values()];
    const nowMs = this.clock.now();
    // The usual batch, device-targeted or multicast messages without a collapse key: one statement.
    const { groupJobs, created } = unique.every(storedInOneStatement) ? await this.storeListed(unique, nowMs) : await this.storeInTransaction(unique, nowMs);
    if (groupJobs > 0) this.fanOut.kick();

    // Presence is read only now that the deliveries are committed: a device that connected before
    // this read is found here, and one that connects after it finds them when its `connected`
    // event is handled. Pending deliveries of earlier attempts at this batch are routed too.
    const deviceTargeted = unique.filter(isListedTarget);
    // When this call stored every one of them, the deliveries it created are all they have: no
    // need to read them back (a statement per batch, and each message's content from PostgreSQL,
    // which this process holds already). Otherwise an earlier attempt may have stored some.
    const pending = deviceTargeted.every((m) => created.messageIds.has(m.messageId))
      ? routableNow(created.deliveries, nowMs)
      : await this.deliveries.outboundOfMessages(this.db.sql, deviceTargeted.map((m) => m.messageId), [Delivery.pending], nowMs);
    const routed = new Set((await this.router.routeByPresence(pending, { causedBy })).map((d) => d.messageId));
    // TTL 0: whoever was not reachable just now will never get it.
    const nowOrNever = new Set(deviceTargeted.filter(isNowOrNever).map((m) => m.messageId));
    const missed = pending.filter((d) => nowOrNever.has(d.messageId) && !routed.has(d.messageId));
    if (missed.length > 0) {
      await this.db.transaction(async (sql) => {
        for (const [messageId, list] of groupBy(missed, (d) => d.messageId)) {
          const expired = await this.deliveries.expireUnrouted(sql, messageId, list.map((d) => d.registrationId), nowMs);
          await this.stats.bump(sql, perRow(expired, 'expired', nowMs));
        }
      });
    }
  }

  /** Any batch, in one transaction: messages, deliveries, collapse keys, fan-out jobs, counters. */
  private storeInTransaction(unique: readonly MessageAcceptedV1[], nowMs: number): Promise<StoredBatch> {
    return this.db.transaction(async (sql) => {
      const admitted = await this.admitAll(sql, unique, nowMs);
      // Only messages stored by this call count and resolve recipients: a redelivery changes nothing.
      const inserted = await this.messages.insertNew(sql, admitted, nowMs);
      const fresh = admitted.filter((a) => inserted.has(a.message.messageId));
      const counted: StatIncrement[] = fresh.map((a) => ({ projectId: a.message.projectId, counter: 'accepted', atMs: a.message.acceptedAtMs }));
      for (const a of fresh) {
        if (a.outcome === 'stored') continue;
        counted.push({ projectId: a.message.projectId, counter: a.outcome, atMs: nowMs });
        this.logger.log({ msg: `message ${a.outcome}`, messageId: a.message.messageId, projectId: a.message.projectId, reason: a.failureReason });
      }
      const stored = fresh.filter((a) => a.outcome === 'stored');
      const listed = await this.storeDeviceTargeted(sql, stored.filter((a) => isListedTarget(a.message)), nowMs);
      counted.push(...listed.counted);
      const group = stored.filter((a) => !isListedTarget(a.message)).map((a) => ({ messageId: a.message.messageId, notBeforeMs: a.message.sendAtMs ?? null }));
      await this.jobs.create(sql, group, nowMs);
      await this.stats.bump(sql, counted);
      return { groupJobs: group.length, created: { messageIds: new Set(fresh.map((a) => a.message.messageId)), deliveries: listed.created } };
    });
  }

  /**
   * A batch of device-targeted and multicast messages without collapse keys: the projects read,
   * then messages, deliveries and counters in one statement, which commits on its own (four round
   * trips to PostgreSQL fewer than a transaction: see docs/benchmarks.md, "Cost per push").
   */
  private async storeListed(unique: readonly MessageAcceptedV1[], nowMs: number): Promise<StoredBatch> {
    const admitted = await this.admitAll(this.db.sql, unique, nowMs);
    const targets = admitted
      .filter((a) => a.outcome === 'stored')
      .flatMap((a) => [...new Set(a.message.registrationIds ?? [a.message.target.value])].map((registrationId) => ({ messageId: a.message.messageId, registrationId })));
    const rows = await this.stats.withCounts<ListedRow>(this.db.sql, this.messages.storeListedStatement(admitted, targets, nowMs, NO_LIVE_REGISTRATION), ['accepted', 'expired', 'failed']);
    const byId = new Map(admitted.map((a) => [a.message.messageId, a]));
    const messageIds = new Set<string>();
    const counted: StatIncrement[] = [];
    const deliveries: CreatedDelivery[] = [];
    for (const row of rows) {
      if (row.kind === 'delivery') {
        deliveries.push(createdDelivery({ messageId: row.id, registrationId: row.registration_id!, deviceId: row.device_id!, applicationId: row.application_id! }, byId.get(row.id)!));
        continue;
      }
      messageIds.add(row.id);
      if (row.outcome === 'stored') continue;
      const { projectId } = byId.get(row.id)!.message;
      counted.push({ projectId, counter: row.outcome as Exclude<MessageOutcome, 'stored'>, atMs: nowMs });
      this.logger.log({ msg: `message ${row.outcome}`, messageId: row.id, projectId, reason: row.failure_reason });
    }
    this.stats.observe(this.db.sql, counted);
    return { groupJobs: 0, created: { messageIds, deliveries } };
  }

  private async admitAll(sql: Sql, messages: readonly MessageAcceptedV1[], nowMs: number): Promise<NewMessage[]> {
    const projects = await this.registry.projectsActive(sql, [...new Set(messages.map((m) => m.projectId))]);
    const applications = await this.registry.applicationsActive(
      sql,
      messages.filter((m) => m.target.type === 'application').map((m) => ({ projectId: m.projectId, applicationId: m.target.value })),
    );
    return messages.map((message) => {
      const admission = admit(message, {
        projectActive: projects.get(message.projectId),
        applicationActive: applications.get(applicationKey(message.projectId, message.target.value)),
        nowMs,
      });
      return { message, expiresAtMs: deliveryExpiry(message), outcome: admission.outcome, failureReason: admission.outcome === 'stored' ? null : admission.reason };
    });
  }

  /**
   * Creates the deliveries of device-targeted and multicast messages (one per listed registration
   * that is live in the message's project), applies collapse keys, fails a message none reached.
   * Returns the counts and the deliveries left pending (those created, less the collapsed).
   */
  private async storeDeviceTargeted(sql: Sql, stored: readonly NewMessage[], nowMs: number): Promise<{ counted: StatIncrement[]; created: CreatedDelivery[] }> {
    const targets: DeviceTargetMessage[] = stored.flatMap((a) =>
      [...new Set(a.message.registrationIds ?? [a.message.target.value])].map((registrationId) => ({
        id: a.message.messageId,
        projectId: a.message.projectId,
        registrationId,
        collapseKey: a.message.collapseKey,
        acceptedAtMs: a.message.acceptedAtMs,
        expiresAtMs: a.expiresAtMs,
        notBeforeMs: a.message.sendAtMs ?? null,
      })),
    );
    const created = await this.deliveries.createForDevices(sql, targets, nowMs);
    const reached = new Set(created.map((c) => c.messageId));
    const unreachable = [...new Map(targets.filter((m) => !reached.has(m.id)).map((m) => [m.id, m])).values()];
    await this.messages.markFailed(sql, unreachable.map((m) => m.id), NO_LIVE_REGISTRATION);
    const counted: StatIncrement[] = unreachable.map((m) => ({ projectId: m.projectId, counter: 'failed', atMs: nowMs }));
    for (const m of unreachable) this.logger.log({ msg: 'message failed', messageId: m.id, reason: NO_LIVE_REGISTRATION });

    const collapsedPairs = new Set<string>();
    const collapsing = targets.filter((m) => m.collapseKey !== null && reached.has(m.id));
    for (const [key, list] of groupBy(collapsing, (m) => m.collapseKey!)) {
      const collapsed = await this.deliveries.collapse(sql, key, [...new Set(list.map((m) => m.registrationId))], nowMs);
      counted.push(...perRow(collapsed, 'expired', nowMs));
      for (const row of collapsed) collapsedPairs.add(`${row.message_id}\n${row.registration_id}`);
    }
    const byId = new Map(stored.map((a) => [a.message.messageId, a]));
    const pending = collapsedPairs.size === 0 ? created : created.filter((c) => !collapsedPairs.has(`${c.messageId}\n${c.registrationId}`));
    return { counted, created: pending.map((c) => createdDelivery(c, byId.get(c.messageId)!)) };
  }
}
