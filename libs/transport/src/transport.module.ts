import { Module, type DynamicModule } from '@nestjs/common';
import { CredentialAuthority } from './credentials';
import { DeviceServer } from './device-server';
import { InboxConsumer } from './inbox-consumer';
import { TRANSPORT_SETTINGS, resolveTransportSettings, type TransportModuleOptions } from './transport-options';

/**
 * The transport service: device TCP server, device credentials, presence, the registration relay to
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
        { provide: CredentialAuthority, useValue: new CredentialAuthority(options.credentialSecret) },
        DeviceServer,
        InboxConsumer,
      ],
      exports: [DeviceServer],
    };
  }
}
