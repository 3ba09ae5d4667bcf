import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { PresenceStore } from '@borealis/keyvalue';
import { Clock } from '@borealis/util';
import { BackgroundLoop } from '../background-loop';
import { DeliveryRepository } from '../persistence/delivery.repository';
import { MessageRepository } from '../persistence/message.repository';
import { PushDb } from '../persistence/push-db';
import { RegistrationRepository } from '../persistence/registration.repository';
import { perRow, StatsRepository } from '../persistence/stats.repository';
import { PUSH_CORE_OPTIONS, tuningOf, type PushCoreTuning, type PushCoreModuleOptions } from '../push-core.options';

/** Rows per statement: small transactions that never hold many locks on the hot tables. */
const BATCH = 2000;
/** Messages whose deliveries one retention step deletes. */
const MESSAGES_PER_STEP = 50;

/**
 * Periodic housekeeping, safe on every instance at once (SKIP LOCKED): records expiry of open
 * deliveries whose TTL passed, unregisters stale registrations and unconfirmed ones (failing their
 * open deliveries), and purges what retention no longer keeps. Each step works one small batch and says whether
 * there may be more, so a backlog drains at once without long transactions.
 */
@Injectable()
export class Sweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('PushCoreSweeper');
  private readonly tuning: PushCoreTuning;
  private readonly loop: BackgroundLoop;

  constructor(
    @Inject(PUSH_CORE_OPTIONS) options: PushCoreModuleOptions,
    private readonly db: PushDb,
    private readonly deliveries: DeliveryRepository,
    private readonly messages: MessageRepository,
    private readonly registrations: RegistrationRepository,
    private readonly stats: StatsRepository,
    private readonly presence: PresenceStore,
    private readonly clock: Clock,
  ) {
    this.tuning = tuningOf(options);
    this.loop = new BackgroundLoop('sweeper', () => this.sweep(), this.tuning.sweepIntervalMs, this.logger);
  }

  onApplicationBootstrap(): void {
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop.stop();
  }

  /** One batch of each chore; true when any of them may have more. */
  async sweep(): Promise<boolean> {
    const results = [await this.expire(), await this.retireStale(), await this.retireUnconfirmed(), await this.purge()];
    return results.some((more) => more);
  }

  private expire(): Promise<boolean> {
    return this.db.transaction(async (sql) => {
      const nowMs = this.clock.now();
      const expired = await this.deliveries.expireSomeDue(sql, nowMs, BATCH);
      await this.stats.bump(sql, perRow(expired, 'expired', nowMs));
      return expired.length === BATCH;
    });
  }

  private retireStale(): Promise<boolean> {
    return this.db.transaction(async (sql) => {
      const nowMs = this.clock.now();
      const retired = await this.registrations.retireStale(sql, nowMs - this.tuning.staleRegistrationMs, BATCH, nowMs);
      if (retired.length === 0) return false;
      await this.stats.bump(sql, perRow(await this.deliveries.failOpenOfRegistrations(sql, retired, nowMs), 'failed', nowMs));
      this.logger.log({ msg: 'stale registrations unregistered', count: retired.length });
      return retired.length === BATCH;
    });
  }

  /**
   * Registrations whose device never connected again after registering (docs/security.md, finding
   * 5): made-up devices register and go. A device online now has held its connection for the whole
   * time, as a real one does: its registrations are confirmed instead.
   */
  private retireUnconfirmed(): Promise<boolean> {
    return this.db.transaction(async (sql) => {
      const nowMs = this.clock.now();
      const due = await this.registrations.unconfirmedBefore(sql, nowMs - this.tuning.unconfirmedRegistrationMs, BATCH);
      if (due.length === 0) return false;
      const online = await this.presence.lookup([...new Set(due.map((r) => r.deviceId))]);
      await this.registrations.confirm(sql, due.filter((r) => online.has(r.deviceId)).map((r) => r.id));
      const retired = await this.registrations.unregisterMany(sql, due.filter((r) => !online.has(r.deviceId)).map((r) => r.id), nowMs);
      await this.stats.bump(sql, perRow(await this.deliveries.failOpenOfRegistrations(sql, retired, nowMs), 'failed', nowMs));
      if (retired.length > 0) this.logger.log({ msg: 'unconfirmed registrations unregistered (their devices never connected again)', count: retired.length });
      return due.length === BATCH;
    });
  }

  private async purge(): Promise<boolean> {
    const cutoffMs = this.clock.now() - this.tuning.retentionMs;
    const sql = this.db.sql;
    const messageIds = await this.messages.expiredBefore(sql, cutoffMs, MESSAGES_PER_STEP);
    const deliveries = await this.deliveries.deleteOfMessages(sql, messageIds, BATCH);
    const messages = await this.messages.deleteWithoutDeliveries(sql, messageIds);
    const registrations = await this.registrations.purgeUnregistered(sql, cutoffMs, BATCH);
    const replies = await this.registrations.purgeReplies(sql, cutoffMs, BATCH);
    if (deliveries + messages + registrations + replies > 0) this.logger.log({ msg: 'purged', deliveries, messages, registrations, replies });
    return deliveries === BATCH || messages === MESSAGES_PER_STEP || registrations === BATCH || replies === BATCH;
  }
}
