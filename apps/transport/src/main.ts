import 'reflect-metadata';
import { announceReady, displayHost, distributedDrivers, exitOnStartupFailure, PlatformModule, serveHttp, TransportConfig } from '@borealis/platform';
import { DeviceServer, TransportModule, WEBSOCKET_PATH } from '@borealis/transport';
import { ConfigError, loadConfig } from '@borealis/util';

/** One transport instance (distributed mode). Configuration: environment, see .env.sample. */
async function main(): Promise<void> {
  const c = loadConfig(TransportConfig);
  if (c.DEVICE_TLS_PORT !== undefined && !(c.DEVICE_TLS_CERT_FILE && c.DEVICE_TLS_KEY_FILE)) {
    throw new ConfigError('DEVICE_TLS_PORT needs DEVICE_TLS_CERT_FILE and DEVICE_TLS_KEY_FILE (PEM files)');
  }
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
        previousCredentialSecrets: c.DEVICE_CREDENTIAL_PREVIOUS_SECRETS,
        credentialMaxAgeDays: c.DEVICE_CREDENTIAL_MAX_AGE_DAYS,
        ...(c.DEVICE_TLS_PORT !== undefined ? { tls: { port: c.DEVICE_TLS_PORT, certFile: c.DEVICE_TLS_CERT_FILE!, keyFile: c.DEVICE_TLS_KEY_FILE! } } : {}),
        ...(c.DEVICE_WS_PORT !== undefined ? { webSocket: { port: c.DEVICE_WS_PORT, secure: c.DEVICE_WS_TLS } } : {}),
        acceptRatePerSecond: c.DEVICE_ACCEPT_RATE,
        ...(c.DEVICE_ACCEPT_BURST !== undefined ? { acceptBurst: c.DEVICE_ACCEPT_BURST } : {}),
        acceptPerSource: {
          ...(c.DEVICE_ACCEPT_SOURCE_RATE !== undefined ? { perSecond: c.DEVICE_ACCEPT_SOURCE_RATE } : {}),
          ...(c.DEVICE_ACCEPT_SOURCE_BURST !== undefined ? { burst: c.DEVICE_ACCEPT_SOURCE_BURST } : {}),
        },
        enrollPerSource: { perSecond: c.DEVICE_ENROLL_SOURCE_RATE, burst: c.DEVICE_ENROLL_SOURCE_BURST },
        registerPerSource: { perSecond: c.DEVICE_REGISTER_SOURCE_RATE, burst: c.DEVICE_REGISTER_SOURCE_BURST },
        frameRates: {
          ack: { perSecond: c.DEVICE_ACK_RATE, burst: c.DEVICE_ACK_BURST },
          ping: { perSecond: c.DEVICE_PING_RATE, burst: c.DEVICE_PING_BURST },
          request: { perSecond: c.DEVICE_REQUEST_RATE, burst: c.DEVICE_REQUEST_BURST },
        },
        maxConnections: c.DEVICE_MAX_CONNECTIONS,
        maxUnsentBytes: c.DEVICE_MAX_UNSENT_BYTES,
        writeHighWaterBytes: c.DEVICE_WRITE_HIGH_WATER_BYTES,
        coalesceMs: c.DEVICE_COALESCE_MS,
        goAwaySpreadMs: c.DEVICE_GOAWAY_SPREAD_MS,
        drainGraceMs: c.DEVICE_DRAIN_GRACE_MS,
        sentReceiptHoldMs: c.DEVICE_SENT_RECEIPT_HOLD_MS,
      }),
    ],
  });
  const addresses = app.get(DeviceServer).addresses();
  const host = displayHost(c.DEVICE_HOST);
  const device = `tcp://${host}:${addresses.tcp.port}`;
  const deviceTls = addresses.tls ? `tls://${host}:${addresses.tls.port}` : undefined;
  const deviceWs = addresses.webSocket ? `${addresses.webSocket.secure ? 'wss' : 'ws'}://${host}:${addresses.webSocket.port}${WEBSOCKET_PATH}` : undefined;
  announceReady({ mode: 'distributed', service: 'transport', instance: c.TRANSPORT_INSTANCE_ID, http: httpUrl, device, deviceTls, deviceWs });
}

main().catch((err: unknown) => exitOnStartupFailure('transport', err));
