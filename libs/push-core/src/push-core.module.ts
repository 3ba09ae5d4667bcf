import { Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BusClient } from '@borealis/messaging';
import { DeliveryReceipts } from './delivery/delivery-receipts.service';
import { MessageCancellation } from './delivery/message-cancellation.service';
import { DeliveryRouter } from './delivery/delivery-router';
import { DeviceEvents } from './delivery/device-events.service';
import { FanOutWorker } from './delivery/fan-out.worker';
import { ScheduledRelease } from './delivery/scheduled-release.worker';
import { MessageIngest } from './delivery/message-ingest.service';
import { PlannerStatistics } from './maintenance/planner-statistics';
import { Sweeper } from './maintenance/sweeper';
import { DeliveryRepository } from './persistence/delivery.repository';
import { FanOutJobRepository } from './persistence/fanout-job.repository';
import { MessageRepository } from './persistence/message.repository';
import { PushCoreSchema1767225600000 } from './persistence/migrations/1767225600000-push-core-schema';
import { FanOutStatsRetention1767312000000 } from './persistence/migrations/1767312000000-fanout-stats-retention';
import { LeanDeliveries1767398400000 } from './persistence/migrations/1767398400000-lean-deliveries';
import { ShardedDailyStats1767484800000 } from './persistence/migrations/1767484800000-sharded-daily-stats';
import { MessageCancel1767571200000 } from './persistence/migrations/1767571200000-message-cancel';
import { MessageListing1767657600000 } from './persistence/migrations/1767657600000-message-listing';
import { Multicast1767744000000 } from './persistence/migrations/1767744000000-multicast';
import { DeviceUsers1767830400000 } from './persistence/migrations/1767830400000-device-users';
import { UnconfirmedRegistrations1767916800000 } from './persistence/migrations/1767916800000-unconfirmed-registrations';
import { RegistrationSecrets1768003200000 } from './persistence/migrations/1768003200000-registration-secrets';
import { ScheduledSends1768089600000 } from './persistence/migrations/1768089600000-scheduled-sends';
import { PUSH_CORE_CONNECTION, PushDb } from './persistence/push-db';
import { RegistrationRepository } from './persistence/registration.repository';
import { RegistryViewRepository } from './persistence/registry-view.repository';
import { StatsRepository } from './persistence/stats.repository';
import { PUSH_CORE_OPTIONS, type PushCoreModuleOptions } from './push-core.options';
import { PushCoreEventsController } from './push-core.events.controller';
import { AppServerUnregistrations } from './registration/app-server-unregistrations.service';
import { RegistrationController, RegistrationCountsController } from './registration/registration.controller';
import { RegistrationQuery } from './registration/registration.query';
import { Registrations } from './registration/registration.service';
import { TopicSubscriptions } from './registration/topic-subscriptions.service';
import { RegistryView } from './registry/registry-view.service';
import { MessageStatusController } from './status/message-status.controller';
import { ProjectStatsController } from './stats/project-stats.controller';
import { ProjectStatsQuery } from './stats/project-stats.query';
import { MessageListController } from './status/message-list.controller';
import { MessageListQuery } from './status/message-list.query';
import { MessageStatusQuery } from './status/message-status.query';
import { PushCoreMetrics } from './push-core.metrics';

/**
 * push-core: owns the Push DB (registrations, messages, deliveries, statistics) and learns everything else
 * through events. Needs `MessageBus`, `PresenceStore` and `Clock` from the platform (global).
 */
@Module({})
export class PushCoreModule {
  static register(options: PushCoreModuleOptions): DynamicModule {
    return {
      module: PushCoreModule,
      imports: [
        TypeOrmModule.forRootAsync({
          name: PUSH_CORE_CONNECTION,
          // The name again in the options: TypeOrmCoreModule looks the DataSource up by it on shutdown.
          useFactory: () => ({
            name: PUSH_CORE_CONNECTION,
            type: 'postgres',
            url: options.databaseUrl,
            applicationName: 'borealis-push-core',
            entities: [],
            migrations: [PushCoreSchema1767225600000, FanOutStatsRetention1767312000000, LeanDeliveries1767398400000, ShardedDailyStats1767484800000, MessageCancel1767571200000, MessageListing1767657600000, Multicast1767744000000, DeviceUsers1767830400000, UnconfirmedRegistrations1767916800000, RegistrationSecrets1768003200000, ScheduledSends1768089600000],
            migrationsTableName: 'push_core_migrations',
            migrationsRun: true,
            synchronize: false,
          }),
        }),
      ],
      controllers: [PushCoreEventsController, ...(options.exposeInternalApi ? [MessageListController, MessageStatusController, ProjectStatsController, RegistrationController, RegistrationCountsController] : [])],
      providers: [
        { provide: PUSH_CORE_OPTIONS, useValue: options },
        BusClient,
        PushDb,
        RegistryViewRepository,
        RegistrationRepository,
        MessageRepository,
        DeliveryRepository,
        FanOutJobRepository,
        StatsRepository,
        DeliveryRouter,
        FanOutWorker,
        ScheduledRelease,
        Sweeper,
        PlannerStatistics,
        RegistryView,
        Registrations,
        TopicSubscriptions,
        AppServerUnregistrations,
        RegistrationQuery,
        MessageIngest,
        DeviceEvents,
        DeliveryReceipts,
        MessageCancellation,
        MessageStatusQuery,
        MessageListQuery,
        ProjectStatsQuery,
        PushCoreMetrics,
      ],
      exports: [MessageStatusQuery, MessageListQuery, ProjectStatsQuery, RegistrationQuery],
    };
  }
}
