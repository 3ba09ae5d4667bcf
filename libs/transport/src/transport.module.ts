import { Module, type DynamicModule } from '@nestjs/common';
import { BusClient } from '@borealis/messaging';
import { CredentialAuthority } from './credentials';
import { DeviceServer } from './device-server';
import { InboxConsumer } from './inbox-consumer';
import { TRANSPORT_SETTINGS, resolveTransportSettings, type TransportModuleOptions } from './transport-options';

/**
 * The transport service: device server (TCP, TLS, WebSocket), device credentials, presence, the registration relay to
 * push-core and delivery. Needs `MessageBus`, `PresenceStore` and `Clock` provided globally.
 */
@Module({})
export class TransportModule {
  static register(options: TransportModuleOptions): DynamicModule {
    const settings = resolveTransportSettings(options);
    return {
      module: TransportModule,
      providers: [
        { provide: TRANSPORT_SETTINGS, useValue: settings },
        {
          provide: CredentialAuthority,
          useValue: new CredentialAuthority({
            secret: options.credentialSecret,
            previousSecrets: options.previousCredentialSecrets ?? [],
            maxAgeMs: settings.credentialMaxAgeMs,
          }),
        },
        DeviceServer,
        BusClient,
      ],
      controllers: [InboxConsumer],
      exports: [DeviceServer],
    };
  }
}
