export * from './async';
export * from './clock';
export * from './config';
export * from './ids';
export * from './exit';
