export { PushCoreModule } from './push-core.module';
export type { PushCoreModuleOptions, PushCoreTuning } from './push-core.options';
export { ProjectStatsQuery } from './stats/project-stats.query';
export { MessageStatusQuery } from './status/message-status.query';
export { RegistrationQuery } from './registration/registration.query';
export { MessageListQuery, type MessageListRequest } from './status/message-list.query';
