export { PushCoreModule } from './push-core.module';
export type { PushCoreModuleOptions } from './push-core.options';
export { MessageStatusQuery } from './status/message-status.query';
