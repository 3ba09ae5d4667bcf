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
    imports: [
      PlatformModule.register(distributedDrivers('push-core', c)),
      PushCoreModule.register({
        databaseUrl: c.DATABASE_URL,
        exposeInternalApi: true,
        fanOutChunkSize: c.PUSH_FANOUT_CHUNK_SIZE,
        sweepIntervalMs: c.PUSH_SWEEP_INTERVAL_MS,
        retentionMs: c.PUSH_RETENTION_HOURS * 3_600_000,
        staleRegistrationMs: c.PUSH_STALE_REGISTRATION_DAYS * 86_400_000,
        unconfirmedRegistrationMs: c.PUSH_UNCONFIRMED_REGISTRATION_HOURS * 3_600_000,
      }),
    ],
  });
  announceReady({ mode: 'distributed', service: 'push-core', http: httpUrl });
}

main().catch((err: unknown) => exitOnStartupFailure('push-core', err));
