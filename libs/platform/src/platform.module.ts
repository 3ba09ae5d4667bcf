import { Global, Inject, Injectable, Module, type BeforeApplicationShutdown, type DynamicModule, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { PresenceStore, RateLimiter, ReplayGuard } from '@borealis/keyvalue';
import { MessageBus } from '@borealis/messaging';
import { Clock } from '@borealis/util';
import { HealthController, Readiness } from './health';

/** The adapters one process runs with: Kafka and Redis (distributed) or in-memory (standalone). */
export interface PlatformDrivers {
  bus: MessageBus;
  presence: PresenceStore;
  rateLimiter: RateLimiter;
  replayGuard: ReplayGuard;
  clock: Clock;
  /** Closed last, after the bus stopped (Redis clients, the embedded PostgreSQL). */
  close?: () => Promise<void>;
  readinessChecks?: { name: string; ready(): boolean | Promise<boolean> }[];
}

const DRIVERS = Symbol('PlatformDrivers');

@Injectable()
class PlatformLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(
    @Inject(DRIVERS) private readonly drivers: PlatformDrivers,
    private readonly readiness: Readiness,
  ) {
    for (const check of drivers.readinessChecks ?? []) readiness.add(check);
  }

  /** Every module has subscribed in onModuleInit; now the consumers may run. */
  async onApplicationBootstrap(): Promise<void> {
    await this.drivers.bus.start();
  }

  /**
   * Global modules shut down after the others, so this runs once the services have drained (the
   * transport's goodbyes are published) and before their databases close in onApplicationShutdown.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.readiness.startDraining();
    await this.drivers.bus.stop();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.drivers.close?.();
  }
}

@Global()
@Module({})
export class PlatformModule {
  static register(drivers: PlatformDrivers): DynamicModule {
    return {
      module: PlatformModule,
      controllers: [HealthController],
      providers: [
        { provide: DRIVERS, useValue: drivers },
        { provide: MessageBus, useValue: drivers.bus },
        { provide: PresenceStore, useValue: drivers.presence },
        { provide: RateLimiter, useValue: drivers.rateLimiter },
        { provide: ReplayGuard, useValue: drivers.replayGuard },
        { provide: Clock, useValue: drivers.clock },
        Readiness,
        PlatformLifecycle,
      ],
      exports: [MessageBus, PresenceStore, RateLimiter, ReplayGuard, Clock, Readiness],
    };
  }
}
