export { AuthModule } from './auth.module';
export type { AuthModuleOptions } from './auth-options';
export type { ConsoleBackendOptions } from './auth-options';
export { HttpPushCoreReads, PushCoreReads } from './console/push-core-reads';
