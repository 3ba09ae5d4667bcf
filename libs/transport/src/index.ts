export { TransportModule } from './transport.module';
export type { TransportModuleOptions } from './transport-options';
export { DeviceServer, WEBSOCKET_PATH, type DeviceAddresses } from './device-server';
export type { TransportStatsSnapshot } from './transport-stats';
