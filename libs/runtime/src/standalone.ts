import { Global, Module, type DynamicModule } from '@nestjs/common';
import { resolve } from 'node:path';
import { AuthModule, PushCoreReads } from '@borealis/auth';
import { GatewayModule, MessageListReader, MessageStatusReader, ProjectStatsReader, RegistrationReader } from '@borealis/gateway';
import { defaultConsoleDir, displayHost, PlatformModule, serveHttp, standaloneDrivers, StandaloneConfig, startEmbeddedPostgres, useJsonLogs, type RunningApp } from '@borealis/platform';
import { MessageListQuery, MessageStatusQuery, ProjectStatsQuery, PushCoreModule, RegistrationQuery } from '@borealis/push-core';
import { DeviceServer, TransportModule } from '@borealis/transport';
import { Correlation } from '@borealis/messaging';
import { loadConfig } from '@borealis/util';
import { ensureStandaloneSecrets } from './secrets';

export interface RunningStandalone extends RunningApp {
  deviceUrl: string;
  dataDir: string;
}

export const STANDALONE_INSTANCE_ID = 'standalone';

/**
 * Standalone mode: the four services in this process, on the in-process bus, an embedded real
 * PostgreSQL kept in the data directory, and in-memory presence, rate limits and replay guard.
 */
export async function runStandalone(env: NodeJS.ProcessEnv = process.env): Promise<RunningStandalone> {
  const c = loadConfig(StandaloneConfig, env);
  // Before the embedded PostgreSQL starts: its lines go through the same logger as the rest.
  useJsonLogs('standalone');
  // Request ids travel explicitly here, as in the gateway alone: no AsyncLocalStorage, so no promise
  // hook on every promise (4 % of the CPU per push: see Correlation and docs/benchmarks.md).
  Correlation.setImplicit(false);
  const dataDir = resolve(c.BOREALIS_DATA_DIR);
  const secrets = await ensureStandaloneSecrets(dataDir);
  const pg = await startEmbeddedPostgres({
    dataDir,
    databases: ['borealis_auth', 'borealis_push_core'],
    superuserPassword: secrets.postgresPassword,
    servicePassword: secrets.databasePassword,
  });
  const host = displayHost(c.BOREALIS_HOST);
  const publicUrl = c.BOREALIS_PUBLIC_URL ?? `http://${host}:${c.BOREALIS_HTTP_PORT}`;
  const deviceUrl = c.BOREALIS_DEVICE_URL ?? `tcp://${host}:${c.BOREALIS_DEVICE_PORT}`;
  const pushCore = PushCoreModule.register({ databaseUrl: pg.url('borealis_push_core'), exposeInternalApi: false });
  try {
    const running = await serveHttp({
      service: 'standalone',
      host: c.BOREALIS_HOST,
      port: c.BOREALIS_HTTP_PORT,
      config: { ...c, dataDir },
      consoleDir: c.BOREALIS_CONSOLE_DIR ?? defaultConsoleDir(),
      imports: [
        PlatformModule.register(standaloneDrivers(() => pg.stop())),
        AuthModule.register({
          databaseUrl: pg.url('borealis_auth'),
          issuer: `${publicUrl}/auth/public`,
          tokenUrl: `${publicUrl}/auth/public/oauth2/token`,
          audiences: ['borealis-push'],
          accessTokenTtlSeconds: c.ACCESS_TOKEN_TTL_SECONDS,
          adminToken: secrets.adminToken,
          signingKeyEncryptionKey: Buffer.from(secrets.signingKeyEncryptionKey, 'base64'),
          publicApiUrl: `${publicUrl}/push/public/api/v1/`,
          pushPublicAddress: deviceUrl,
          signUp: c.SIGNUP_MODE,
          console: {
            // The console's test send takes the push API's send route, over loopback as the JWKS is read.
            gatewayUrl: `http://${host}:${c.BOREALIS_HTTP_PORT}`,
            selfName: 'standalone',
          },
        }),
        pushCore,
        pushCoreBridge(pushCore),
        GatewayModule.register({
          issuer: `${publicUrl}/auth/public`,
          // Read over loopback, as a separate gateway reads it from auth; cached after the first request.
          jwksUrl: `http://${host}:${c.BOREALIS_HTTP_PORT}/auth/public/.well-known/jwks.json`,
          audience: 'borealis-push',
          accessTokenTtlSeconds: c.ACCESS_TOKEN_TTL_SECONDS,
          rateLimit: { perSecond: c.RATE_LIMIT_PER_SECOND, burst: c.RATE_LIMIT_BURST },
          ipRateLimit: { perSecond: c.RATE_LIMIT_IP_PER_SECOND, burst: c.RATE_LIMIT_IP_BURST },
        }),
        TransportModule.register({
          instanceId: STANDALONE_INSTANCE_ID,
          host: c.BOREALIS_HOST,
          port: c.BOREALIS_DEVICE_PORT,
          credentialSecret: secrets.deviceCredentialSecret,
          heartbeatIntervalMs: c.HEARTBEAT_INTERVAL_MS,
          registrationTimeoutMs: 10000,
          enrollPerSource: { perSecond: c.DEVICE_ENROLL_SOURCE_RATE, burst: c.DEVICE_ENROLL_SOURCE_BURST },
          registerPerSource: { perSecond: c.DEVICE_REGISTER_SOURCE_RATE, burst: c.DEVICE_REGISTER_SOURCE_BURST },
          writeHighWaterBytes: c.DEVICE_WRITE_HIGH_WATER_BYTES,
          coalesceMs: c.DEVICE_COALESCE_MS,
          ...(c.BOREALIS_DEVICE_WS_PORT !== undefined ? { webSocket: { port: c.BOREALIS_DEVICE_WS_PORT } } : {}),
          ...(c.BOREALIS_DEVICE_TLS_PORT !== undefined && c.BOREALIS_DEVICE_TLS_CERT_FILE && c.BOREALIS_DEVICE_TLS_KEY_FILE
            ? { tls: { port: c.BOREALIS_DEVICE_TLS_PORT, certFile: c.BOREALIS_DEVICE_TLS_CERT_FILE, keyFile: c.BOREALIS_DEVICE_TLS_KEY_FILE } }
            : {}),
        }),
      ],
    });
    const devicePort = running.app.get(DeviceServer).address().port;
    return { ...running, deviceUrl: `tcp://${host}:${devicePort}`, dataDir };
  } catch (err) {
    await pg.stop();
    throw err;
  }
}

/**
 * In one process the gateway reads message statuses, statistics and registrations from push-core
 * directly, not over HTTP; so do auth's console routes (`PushCoreReads`).
 */
export function pushCoreBridge(pushCore: DynamicModule): DynamicModule {
  @Global()
  @Module({})
  class StatusBridgeModule {}
  return {
    module: StatusBridgeModule,
    imports: [pushCore],
    providers: [
      { provide: MessageStatusReader, useExisting: MessageStatusQuery },
      { provide: ProjectStatsReader, useExisting: ProjectStatsQuery },
      { provide: RegistrationReader, useExisting: RegistrationQuery },
      { provide: MessageListReader, useExisting: MessageListQuery },
      {
        provide: PushCoreReads,
        inject: [MessageListQuery, MessageStatusQuery, ProjectStatsQuery, RegistrationQuery],
        useFactory: (list: MessageListQuery, status: MessageStatusQuery, stats: ProjectStatsQuery, registrations: RegistrationQuery): PushCoreReads => ({
          listMessages: (projectId, params) => list.list(projectId, params),
          getStatus: (projectId, messageId) => status.getStatus(projectId, messageId),
          getStats: (projectId, from, to) => stats.getStats(projectId, from, to),
          registrationCounts: (projectId) => registrations.registrationCounts(projectId),
        }),
      },
    ],
    exports: [MessageStatusReader, MessageListReader, ProjectStatsReader, RegistrationReader, PushCoreReads],
  };
}
