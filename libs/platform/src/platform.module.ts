import { Global, Inject, Injectable, Logger, Module, type BeforeApplicationShutdown, type DynamicModule, type OnApplicationBootstrap, type OnApplicationShutdown, type OnModuleDestroy } from '@nestjs/common';
import { DiscoveryModule, DiscoveryService } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { PresenceStore, RateLimiter, ReplayGuard } from '@borealis/keyvalue';
import { MessageBus } from '@borealis/messaging';
import { Clock, sleep } from '@borealis/util';
import { HealthController, Readiness } from './health';
import { Metrics } from './metrics';
import { MetricsController } from './metrics.controller';

/** The adapters one process runs with: Kafka and Redis (distributed) or in-memory (standalone). */
export interface PlatformDrivers {
  bus: MessageBus;
  presence: PresenceStore;
  rateLimiter: RateLimiter;
  replayGuard: ReplayGuard;
  clock: Clock;
  /** The process's metrics; the bus should already report to it. A fresh registry if absent. */
  metrics?: Metrics;
  /** Closed last, after the bus stopped (Redis clients, the embedded PostgreSQL). */
  close?: () => Promise<void>;
  readinessChecks?: { name: string; ready(): boolean | Promise<boolean> }[];
  /**
   * On shutdown, how long /readyz answers 503 while the process still serves, before it stops:
   * load balancers and Kubernetes endpoints need a moment to stop sending new requests.
   */
  shutdownDelayMs?: number;
}

const DRIVERS = Symbol('PlatformDrivers');
const DATABASE_CHECK_TIMEOUT_MS = 2000;

@Injectable()
class PlatformLifecycle implements OnApplicationBootstrap, OnModuleDestroy, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('Platform');
  private bootstrapped = false;

  constructor(
    @Inject(DRIVERS) private readonly drivers: PlatformDrivers,
    private readonly readiness: Readiness,
    private readonly discovery: DiscoveryService,
    metrics: Metrics,
  ) {
    for (const check of drivers.readinessChecks ?? []) readiness.add(check);
    metrics.registerCollector(async () => metrics.ready.set((await readiness.report()).ready ? 1 : 0));
  }

  /** Every module has subscribed in onModuleInit; now the consumers may run. */
  async onApplicationBootstrap(): Promise<void> {
    this.watchDatabases();
    await this.drivers.bus.start();
    this.bootstrapped = true;
  }

  /**
   * Shutdown begins (SIGTERM): report not ready at once, before any module drains, and keep
   * serving for the configured delay so that traffic moves elsewhere first.
   */
  async onModuleDestroy(): Promise<void> {
    this.readiness.startDraining();
    if (!this.bootstrapped || !this.drivers.shutdownDelayMs) return;
    this.logger.log({ msg: 'draining: not ready, still serving', delayMs: this.drivers.shutdownDelayMs });
    await sleep(this.drivers.shutdownDelayMs);
  }

  /**
   * Global modules shut down after the others, so this runs once the services have drained (the
   * transport's goodbyes are published) and before their databases close in onApplicationShutdown.
   */
  async beforeApplicationShutdown(): Promise<void> {
    await this.drivers.bus.stop();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.drivers.close?.();
    if (this.bootstrapped) this.logger.log({ msg: 'stopped' });
  }

  /** Each service's own database (a TypeORM DataSource provider) is one readiness check. */
  private watchDatabases(): void {
    for (const wrapper of this.discovery.getProviders()) {
      const instance: unknown = wrapper.instance;
      if (!(instance instanceof DataSource)) continue;
      this.readiness.add({ name: `database:${wrapper.name}`, ready: () => databaseAnswers(instance) });
    }
  }
}

async function databaseAnswers(dataSource: DataSource): Promise<boolean> {
  if (!dataSource.isInitialized) return false;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), DATABASE_CHECK_TIMEOUT_MS)));
  try {
    return await Promise.race([dataSource.query('SELECT 1').then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

@Global()
@Module({})
export class PlatformModule {
  static register(drivers: PlatformDrivers): DynamicModule {
    return {
      module: PlatformModule,
      imports: [DiscoveryModule],
      controllers: [HealthController, MetricsController],
      providers: [
        { provide: DRIVERS, useValue: drivers },
        { provide: MessageBus, useValue: drivers.bus },
        { provide: PresenceStore, useValue: drivers.presence },
        { provide: RateLimiter, useValue: drivers.rateLimiter },
        { provide: ReplayGuard, useValue: drivers.replayGuard },
        { provide: Clock, useValue: drivers.clock },
        { provide: Metrics, useValue: drivers.metrics ?? new Metrics({ service: 'borealis', processMetrics: false }) },
        Readiness,
        PlatformLifecycle,
      ],
      exports: [MessageBus, PresenceStore, RateLimiter, ReplayGuard, Clock, Readiness, Metrics],
    };
  }
}
