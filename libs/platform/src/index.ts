export * from './config';
export * from './drivers';
export * from './embedded-postgres';
export * from './health';
export * from './http';
export * from './platform.module';
export * from './problem-details.filter';
export * from './serve';
