export { GatewayModule } from './gateway.module';
export type { GatewayModuleOptions } from './gateway-options';
export { HttpMessageStatusReader, MessageStatusReader } from './status/message-status-reader';
