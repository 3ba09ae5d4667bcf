import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { Topics, type RegistryEventV1 } from '@borealis/contracts';
import { BusClient } from '@borealis/messaging';
import { Clock, backoffDelay, sleep } from '@borealis/util';
import { AUTH_CONNECTION, AdvisoryLock } from '../persistence/database';

const BATCH_SIZE = 100;
/** Safety net for rows a kick did not reach (another replica's changes, a crash before the kick). */
const POLL_INTERVAL_MS = 1000;
/** Published rows are kept this long for inspection, then deleted. */
const RETENTION_MS = 7 * 24 * 3600 * 1000;

/**
 * Publishes the registry outbox to `Topics.registry` in `seq` order and marks the rows published
 * once the publish resolved (durable). One replica at a time relays (a transaction-scoped
 * advisory lock), so events of one entity never overtake each other. A failed publish leaves the
 * rows pending and is retried with backoff: nothing committed is lost, some may be published twice
 * (consumers are idempotent; every event carries full state).
 */
@Injectable()
export class RegistryOutboxRelay implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(RegistryOutboxRelay.name);
  private readonly stopping = new AbortController();
  private kicks = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    @InjectDataSource(AUTH_CONNECTION) private readonly dataSource: DataSource,
    private readonly bus: BusClient,
    private readonly clock: Clock,
  ) {}

  /** Starts relaying, beginning with whatever is still pending from before. */
  onApplicationBootstrap(): void {
    this.loop = this.run();
  }

  /** Before the DataSource closes (that happens in onApplicationShutdown). */
  async onModuleDestroy(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  /** Relay now: a change has just committed. */
  kick(): void {
    this.kicks.abort();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping.signal.aborted) {
      // A kick during this pass makes the pause below end at once.
      const kicked = (this.kicks = new AbortController()).signal;
      try {
        await this.relayPending();
        failures = 0;
      } catch (err) {
        failures++;
        this.logger.warn({ msg: 'registry outbox relay failed; retrying', attempt: failures, error: String(err) });
      }
      if (failures === 0) await sleep(POLL_INTERVAL_MS, AbortSignal.any([this.stopping.signal, kicked]));
      else await sleep(100 + backoffDelay(failures, 200, 10_000), this.stopping.signal);
    }
  }

  private async relayPending(): Promise<void> {
    let published = 0;
    for (;;) {
      const count = await this.relayBatch();
      published += count;
      if (count < BATCH_SIZE) break;
    }
    if (published > 0) {
      await this.dataSource.query('DELETE FROM registry_outbox WHERE published_at < $1', [new Date(this.clock.now() - RETENTION_MS)]);
    }
  }

  /** Publishes up to one batch; 0 when nothing is pending or another replica is relaying. */
  private relayBatch(): Promise<number> {
    return this.dataSource.transaction(async (em) => {
      const [{ locked }] = (await em.query('SELECT pg_try_advisory_xact_lock($1) AS locked', [AdvisoryLock.registryOutbox])) as { locked: boolean }[];
      if (!locked) return 0;
      const rows = (await em.query('SELECT seq, payload FROM registry_outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1', [BATCH_SIZE])) as {
        seq: string;
        payload: RegistryEventV1;
      }[];
      if (rows.length === 0) return 0;
      await this.bus.publishBatch(
        Topics.registry,
        rows.map((row) => ({ value: row.payload })),
      );
      await em.query('UPDATE registry_outbox SET published_at = $1 WHERE seq = ANY($2::bigint[])', [new Date(this.clock.now()), rows.map((r) => r.seq)]);
      return rows.length;
    });
  }
}
