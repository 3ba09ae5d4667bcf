import { GatewayConfig } from '@borealis/platform';
import { z } from 'zod';

const positive = (fallback: number) => z.coerce.number().positive().default(fallback);

/**
 * The gateway's configuration: the platform's schema plus the gateway's own limits. The project
 * rate may be fractional (a quota of 1 message a minute is 0.0167 per second).
 */
export const GatewayAppConfig = GatewayConfig.extend({
  RATE_LIMIT_PER_SECOND: positive(10000),
  RATE_LIMIT_IP_PER_SECOND: positive(1000),
  RATE_LIMIT_IP_BURST: positive(2000),
  IDEMPOTENCY_TTL_SECONDS: z.coerce.number().int().positive().default(86400),
});
export type GatewayAppConfig = z.infer<typeof GatewayAppConfig>;
