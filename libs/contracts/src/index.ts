export * from './device-protocol';
export * from './errors';
export * from './events';
export * from './limits';
export * from './push-api';
export * from './topics';
export * from './push-api-params';
export * from './console-send';
