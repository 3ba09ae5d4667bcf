import 'reflect-metadata';
import { GatewayModule } from '@borealis/gateway';
import { announceReady, distributedDrivers, exitOnStartupFailure, GatewayConfig, PlatformModule, serveHttp } from '@borealis/platform';
import { Correlation } from '@borealis/messaging';
import { loadConfig } from '@borealis/util';

/** The gateway alone (distributed mode). Configuration: environment, see .env.sample. */
async function main(): Promise<void> {
  const c = loadConfig(GatewayConfig);
  // Request ids travel explicitly on the gateway's hot path; no AsyncLocalStorage and so no promise
  // hook on every promise (see Correlation).
  Correlation.setImplicit(false);
  const { httpUrl } = await serveHttp({
    service: 'gateway',
    host: c.HTTP_HOST,
    port: c.HTTP_PORT,
    config: c,
    imports: [
      PlatformModule.register(distributedDrivers('gateway', c)),
      GatewayModule.register({
        issuer: `${c.BOREALIS_PUBLIC_URL}/auth/public`,
        jwksUrl: c.AUTH_JWKS_URL,
        audience: c.AUTH_AUDIENCE,
        accessTokenTtlSeconds: c.ACCESS_TOKEN_TTL_SECONDS,
        rateLimit: { perSecond: c.RATE_LIMIT_PER_SECOND, burst: c.RATE_LIMIT_BURST },
        ipRateLimit: { perSecond: c.RATE_LIMIT_IP_PER_SECOND, burst: c.RATE_LIMIT_IP_BURST },
        redisUrl: c.REDIS_URL,
        idempotencyTtlSeconds: c.IDEMPOTENCY_TTL_SECONDS,
        pushCoreUrl: c.PUSH_CORE_URL,
      }),
    ],
  });
  announceReady({ mode: 'distributed', service: 'gateway', http: httpUrl });
}

main().catch((err: unknown) => exitOnStartupFailure('gateway', err));
