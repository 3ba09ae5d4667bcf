import 'reflect-metadata';
import { announceReady, displayHost, distributedDrivers, exitOnStartupFailure, PlatformModule, serveHttp, TransportConfig } from '@borealis/platform';
import { DeviceServer, TransportModule } from '@borealis/transport';
import { loadConfig } from '@borealis/util';

/** One transport instance (distributed mode). Configuration: environment, see .env.sample. */
async function main(): Promise<void> {
  const c = loadConfig(TransportConfig);
  const { app, httpUrl } = await serveHttp({
    service: 'transport',
    host: c.HTTP_HOST,
    port: c.HTTP_PORT,
    config: c,
    imports: [
      PlatformModule.register(distributedDrivers(`transport-${c.TRANSPORT_INSTANCE_ID}`, c)),
      TransportModule.register({
        instanceId: c.TRANSPORT_INSTANCE_ID,
        host: c.DEVICE_HOST,
        port: c.DEVICE_PORT,
        credentialSecret: c.DEVICE_CREDENTIAL_SECRET,
        heartbeatIntervalMs: c.HEARTBEAT_INTERVAL_MS,
        registrationTimeoutMs: c.REGISTRATION_TIMEOUT_MS,
      }),
    ],
  });
  const device = `tcp://${displayHost(c.DEVICE_HOST)}:${app.get(DeviceServer).address().port}`;
  announceReady({ mode: 'distributed', service: 'transport', instance: c.TRANSPORT_INSTANCE_ID, http: httpUrl, device });
}

main().catch((err: unknown) => exitOnStartupFailure('transport', err));
