export { loadProjectSettings, parseProjectSettings, ProjectSettingsError, type ProjectSettings } from './project-settings';
export { PushApiError } from './push-api-error';
export { ProjectInfo, PushServerClient, type MulticastInput, type PushServerClientOptions, type SendMessageInput } from './push-server-client';
export { MulticastResponse, type MulticastRecipient, type MulticastRequest, type PushNotification, type SendMessageRequest, type SendMessageResponse } from '@borealis/contracts';
