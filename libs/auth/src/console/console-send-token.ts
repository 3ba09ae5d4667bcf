import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { CONSOLE_SEND_SCOPE, CONSOLE_SEND_TOKEN_TTL_SECONDS, CONSOLE_SEND_TOKEN_TYPE } from '@borealis/contracts';
import type { Clock } from '@borealis/util';
import type { Actor } from '../access/access';
import type { SigningKeys } from '../signing/signing-keys';

/**
 * A console send token for one test send (libs/contracts, console-send.ts; docs/security.md,
 * "Console send tokens"): the console's test send goes through the push API's own send route at
 * the gateway, which accepts such a token there only, and refuses it anywhere else and whenever
 * it would live longer than `CONSOLE_SEND_TOKEN_TTL_SECONDS`.
 */
export async function mintConsoleSendToken(
  signingKeys: SigningKeys,
  clock: Clock,
  claims: { issuer: string; audience: string; projectId: string; actor: Actor },
): Promise<string> {
  const key = await signingKeys.current();
  const now = Math.floor(clock.now() / 1000);
  const who = claims.actor.kind === 'operator' ? 'operator' : claims.actor.accountId;
  return new SignJWT({ project_id: claims.projectId, scope: CONSOLE_SEND_SCOPE })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: CONSOLE_SEND_TOKEN_TYPE })
    .setIssuer(claims.issuer)
    .setSubject(`console:${who}`)
    .setAudience(claims.audience)
    .setIssuedAt(now)
    .setExpirationTime(now + CONSOLE_SEND_TOKEN_TTL_SECONDS)
    .setJti(randomUUID())
    .sign(key.privateKey);
}
