import type { DynamicModule } from '@nestjs/common';
import { Logger, Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AddressInfo } from 'node:net';
import { ConfigError, exitAfterWriting, maskConfig } from '@borealis/util';
import type { TrustProxy } from './config';
import { startBusConsumers } from './bus-consumers';
import { ConsoleSiteModule } from './console-site';
import { createHttpApp, useJsonLogs } from './http';
import { Metrics } from './metrics';

export interface RunningApp {
  app: NestFastifyApplication;
  httpUrl: string;
}

@Module({})
class ServiceAppModule {}

/** Builds one process's Nest app from its modules, listens, and returns where it is reachable. */
/** `consoleDir`: serve the web console built there at `/` (standalone and auth; docs/adr/0008-console-serving.md). */
export async function serveHttp(options: {
  service: string;
  host: string;
  port: number;
  config: Record<string, unknown>;
  imports: DynamicModule[];
  consoleDir?: string;
}): Promise<RunningApp> {
  useJsonLogs(options.service);
  new Logger('Config').log({ msg: 'configuration', config: maskConfig(options.config) });
  if (options.config['MIGRATE_ONLY'] === true) return migrateAndExit(options.service, options.imports);
  const imports = options.consoleDir === undefined ? options.imports : [...options.imports, ConsoleSiteModule.register(options.consoleDir)];
  const app = await createHttpApp({ module: ServiceAppModule, imports }, options.service, trustProxyOf(options.config));
  app.get(Metrics).setService(options.service);
  await startBusConsumers(app);
  await app.listen(options.port, options.host);
  return { app, httpUrl: `http://${displayHost(options.host)}:${(app.getHttpServer().address() as AddressInfo).port}` };
}

/**
 * The migrations job: creating the app opens the service's database, which applies its pending
 * migrations (TypeORM `migrationsRun`); then it closes without serving and the process exits 0.
 */
async function migrateAndExit(service: string, imports: DynamicModule[]): Promise<never> {
  const app = await createHttpApp({ module: ServiceAppModule, imports }, service);
  await app.close();
  process.stdout.write(JSON.stringify({ event: 'migrated', service }) + '\n');
  process.exit(0);
}

/** The validated TRUST_PROXY of a service's configuration (config.ts); absent means false. */
function trustProxyOf(config: Record<string, unknown>): TrustProxy {
  const value = config['TRUST_PROXY'];
  return typeof value === 'number' || typeof value === 'string' ? value : false;
}

export function displayHost(host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
}

/** One JSON line on stdout, for scripts and tests: the process is ready and reachable there. */
export function announceReady(event: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ event: 'ready', ...event }) + '\n');
}

/**
 * Startup failed: say why (the variable, for configuration errors) and exit non-zero, 2 for a
 * configuration error, 1 otherwise, once the reason is written (`exitAfterWriting`).
 */
export function exitOnStartupFailure(what: string, err: unknown): void {
  const [code, reason] = err instanceof ConfigError ? [2, err.message] : [1, `failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`];
  exitAfterWriting(`borealis ${what}: ${reason}\n`, code);
}
