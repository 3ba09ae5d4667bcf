import { Injectable, Optional, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Metrics } from '@borealis/platform';
import { DeliveryRepository } from './persistence/delivery.repository';
import { PushDb } from './persistence/push-db';

/** The pending-deliveries gauge, read from the Push DB when Prometheus scrapes. */
@Injectable()
export class PushCoreMetrics implements OnModuleInit, OnModuleDestroy {
  private unregister: (() => void) | null = null;

  constructor(
    private readonly db: PushDb,
    private readonly deliveries: DeliveryRepository,
    @Optional() private readonly metrics?: Metrics,
  ) {}

  onModuleInit(): void {
    const metrics = this.metrics;
    if (!metrics) return;
    this.unregister = metrics.registerCollector(async () => metrics.deliveriesPending.set(await this.deliveries.countOpen(this.db.sql)));
  }

  onModuleDestroy(): void {
    this.unregister?.();
  }
}
