import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { Topics, type RegistryEventV1 } from '@borealis/contracts';
import { BusEventPattern, type BusResolve } from '@borealis/messaging';
import { randomToken } from '@borealis/util';
import { GATEWAY_OPTIONS, type GatewayModuleOptions } from '../gateway-options';
import { ProjectRegistryView } from './project-registry.view';

/** A consumer group of this process alone (resolved once, when the transport starts), so that every gateway instance reads every entity. */
const processGroup = (resolve: BusResolve): string => `${resolve<GatewayModuleOptions>(GATEWAY_OPTIONS).consumerGroupPrefix ?? 'borealis.gateway'}.registry.${randomToken(6)}`;

/** Feeds auth's registry events (compacted topic, read from the beginning on every start) into the gateway's view. */
@Controller()
export class RegistryEventsController {
  constructor(private readonly view: ProjectRegistryView) {}

  @BusEventPattern(Topics.registry, { group: processGroup, fromBeginning: true })
  onRegistry(@Payload() events: RegistryEventV1[]): Promise<void> {
    return this.view.apply(events);
  }
}
