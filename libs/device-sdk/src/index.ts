export { PushDaemon, appKey, splitAppKey, type PushDaemonOptions, type PushDaemonEvents, type AppEndpoint } from './push-daemon';
export { PushClient, type PushClientOptions, type PushClientEvents } from './push-client';
export { PushError, isSilentPush, type Push, type PushErrorCode } from './push';
export { parseServerUrl, type ServerUrl } from './link';
