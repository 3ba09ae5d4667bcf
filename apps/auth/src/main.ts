import 'reflect-metadata';
import { AuthModule } from '@borealis/auth';
import { announceReady, AuthConfig, defaultConsoleDir, distributedDrivers, exitOnStartupFailure, PlatformModule, serveHttp, signingKeyEncryptionKey } from '@borealis/platform';
import { loadConfig } from '@borealis/util';

/** The auth service alone (distributed mode). Configuration: environment, see .env.sample. */
async function main(): Promise<void> {
  const c = loadConfig(AuthConfig);
  const { httpUrl } = await serveHttp({
    service: 'auth',
    host: c.HTTP_HOST,
    port: c.HTTP_PORT,
    config: c,
    consoleDir: c.BOREALIS_CONSOLE_DIR ?? defaultConsoleDir(),
    imports: [
      PlatformModule.register(distributedDrivers('auth', c)),
      AuthModule.register({
        databaseUrl: c.DATABASE_URL,
        issuer: `${c.BOREALIS_PUBLIC_URL}/auth/public`,
        tokenUrl: `${c.BOREALIS_PUBLIC_URL}/auth/public/oauth2/token`,
        audiences: [c.AUTH_AUDIENCE],
        accessTokenTtlSeconds: c.ACCESS_TOKEN_TTL_SECONDS,
        adminToken: c.BOREALIS_ADMIN_TOKEN,
        signingKeyEncryptionKey: signingKeyEncryptionKey(c),
        publicApiUrl: `${c.BOREALIS_PUBLIC_URL}/push/public/api/v1/`,
        pushPublicAddress: c.BOREALIS_DEVICE_URL,
        tokenRateLimits: {
          perIp: { burst: c.TOKEN_RATE_LIMIT_IP_BURST, perSecond: c.TOKEN_RATE_LIMIT_IP_PER_SECOND },
          perClient: { burst: c.TOKEN_RATE_LIMIT_CLIENT_BURST, perSecond: c.TOKEN_RATE_LIMIT_CLIENT_PER_SECOND },
        },
        sessionTtlSeconds: c.SESSION_TTL_SECONDS,
        console: {
          ...(c.PUSH_CORE_URL !== undefined ? { pushCoreUrl: c.PUSH_CORE_URL } : {}),
          ...(c.GATEWAY_URL !== undefined ? { gatewayUrl: c.GATEWAY_URL } : {}),
          services: c.CONSOLE_OVERVIEW_SERVICES ?? [
            ...(c.GATEWAY_URL !== undefined ? [{ name: 'gateway', url: c.GATEWAY_URL }] : []),
            ...(c.PUSH_CORE_URL !== undefined ? [{ name: 'push-core', url: c.PUSH_CORE_URL }] : []),
          ],
          selfName: 'auth',
        },
        signUp: c.SIGNUP_MODE,
        accountLimits: {
          loginPerIp: { burst: c.LOGIN_RATE_LIMIT_IP_BURST, perSecond: c.LOGIN_RATE_LIMIT_IP_PER_SECOND },
          signUpPerIp: { burst: c.SIGNUP_RATE_LIMIT_IP_BURST, perSecond: c.SIGNUP_RATE_LIMIT_IP_PER_SECOND },
          ...(c.PASSWORD_HASH_CONCURRENCY !== undefined ? { hashConcurrency: c.PASSWORD_HASH_CONCURRENCY } : {}),
          hashQueue: c.PASSWORD_HASH_QUEUE,
        },
      }),
    ],
  });
  announceReady({ mode: 'distributed', service: 'auth', http: httpUrl });
}

main().catch((err: unknown) => exitOnStartupFailure('auth', err));
