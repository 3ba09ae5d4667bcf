import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { sleep } from '@borealis/util';
import { RegistryAdmin } from '../admin/registry-admin.service';

const CHECK_INTERVAL_MS = 1000;

/**
 * Announces each service-account key on the registry topic once its expiry time has passed, so that
 * consumers learn of it within about a second even if they do not watch the clock themselves.
 * Replicas may all run it: due keys are claimed with SKIP LOCKED and announced once.
 */
@Injectable()
export class KeyExpiryAnnouncer implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(KeyExpiryAnnouncer.name);
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly registry: RegistryAdmin) {}

  onApplicationBootstrap(): void {
    this.loop = this.run();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      try {
        const announced = await this.registry.announceDueKeyExpiries();
        if (announced > 0) this.logger.log({ msg: 'service account key expiries announced', count: announced });
      } catch (err) {
        this.logger.warn({ msg: 'announcing key expiries failed; retrying', error: String(err) });
      }
      await sleep(CHECK_INTERVAL_MS, this.stopping.signal);
    }
  }
}
