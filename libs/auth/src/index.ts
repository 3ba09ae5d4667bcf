export { AuthModule } from './auth.module';
export type { AuthModuleOptions } from './auth-options';
