export { TransportModule } from './transport.module';
export type { TransportModuleOptions } from './transport-options';
export { DeviceServer, GOAWAY_SPREAD_MS } from './device-server';
