export { loadProjectSettings, parseProjectSettings, ProjectSettingsError, type ProjectSettings } from './project-settings';
export { PushApiError } from './push-api-error';
export { ProjectInfo, PushServerClient, type PushServerClientOptions, type SendMessageInput } from './push-server-client';
