import 'reflect-metadata';
import { announceReady, distributedDrivers, exitOnStartupFailure, PlatformModule, PushCoreConfig, serveHttp } from '@borealis/platform';
import { PushCoreModule, PushCoreTuningConfig } from '@borealis/push-core';
import { loadConfig } from '@borealis/util';

/** push-core alone (distributed mode). Configuration: environment, see .env.sample. */
async function main(): Promise<void> {
  const c = loadConfig(PushCoreConfig);
  const tuning = loadConfig(PushCoreTuningConfig);
  const { httpUrl } = await serveHttp({
    service: 'push-core',
    host: c.HTTP_HOST,
    port: c.HTTP_PORT,
    config: { ...c, ...tuning },
    imports: [PlatformModule.register(distributedDrivers('push-core', c)), PushCoreModule.register({ databaseUrl: c.DATABASE_URL, exposeInternalApi: true, ...tuning })],
  });
  announceReady({ mode: 'distributed', service: 'push-core', http: httpUrl });
}

main().catch((err: unknown) => exitOnStartupFailure('push-core', err));
