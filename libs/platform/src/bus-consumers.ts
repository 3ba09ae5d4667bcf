import type { INestApplication } from '@nestjs/common';
import type { MicroserviceOptions } from '@nestjs/microservices';
import { BusTransport, MessageBus, resolverOf } from '@borealis/messaging';

/**
 * Connects the app's `@BusEventPattern` handlers to the message bus (a hybrid app: HTTP plus the
 * bus transport) and subscribes them. Call it after the app is created and before it is
 * initialized: the handlers are subscribed before any module's init hooks run and before the
 * platform starts the bus, so in process no record published at start-up misses a group, and on
 * Kafka every consumer group joins when the bus starts (readiness waits for all of them).
 * Shutdown is the platform's: the bus stops after the services drained, then Nest closes the
 * transport.
 */
export async function startBusConsumers(app: INestApplication): Promise<void> {
  const bus = app.get(MessageBus, { strict: false });
  app.connectMicroservice<MicroserviceOptions>({ strategy: new BusTransport(bus, resolverOf(app)) }, { inheritAppConfig: false });
  await app.startAllMicroservices();
}
