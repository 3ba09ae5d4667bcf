import type { FastifyReply } from 'fastify';
import type { LimitOutcome } from './request-limits';

/**
 * The RateLimit header fields (IETF draft "RateLimit header fields for HTTP"): the bucket size,
 * what is left, seconds until the bucket is full again, and the policy as `burst;w=window`.
 */
export function setRateLimitHeaders(reply: FastifyReply, { decision, policy }: LimitOutcome): void {
  const window = Math.max(1, Math.ceil(policy.burst / policy.perSecond));
  const reset = decision.allowed ? Math.ceil((policy.burst - decision.remaining) / policy.perSecond) : decision.retryAfterSeconds;
  reply
    .header('RateLimit-Limit', decision.limit)
    .header('RateLimit-Remaining', decision.remaining)
    .header('RateLimit-Reset', reset)
    .header('RateLimit-Policy', `${policy.burst};w=${window}`);
}
