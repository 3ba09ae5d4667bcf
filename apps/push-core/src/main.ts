import 'reflect-metadata';
import { announceReady, distributedDrivers, exitOnStartupFailure, PlatformModule, PushCoreConfig, serveHttp } from '@borealis/platform';
import { PushCoreModule } from '@borealis/push-core';
import { loadConfig } from '@borealis/util';

/** push-core alone (distributed mode). Configuration: environment, see .env.sample. */
async function main(): Promise<void> {
  const c = loadConfig(PushCoreConfig);
  const { httpUrl } = await serveHttp({
    service: 'push-core',
    host: c.HTTP_HOST,
    port: c.HTTP_PORT,
    config: c,
    imports: [PlatformModule.register(distributedDrivers('push-core', c)), PushCoreModule.register({ databaseUrl: c.DATABASE_URL, exposeInternalApi: true })],
  });
  announceReady({ mode: 'distributed', service: 'push-core', http: httpUrl });
}

main().catch((err: unknown) => exitOnStartupFailure('push-core', err));
