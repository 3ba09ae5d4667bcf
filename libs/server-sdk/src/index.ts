export { loadProjectSettings, parseProjectSettings, ProjectSettingsError, type ProjectSettings } from './project-settings';
export { PushApiError } from './push-api-error';
export { MulticastResponse, ProjectInfo, PushServerClient, type MulticastInput, type PushServerClientOptions, type SendMessageInput } from './push-server-client';
