import type { MessageAcceptedV1 } from '@borealis/contracts';

/**
 * TTL 0 means "now or never": the message goes to the devices that are online when push-core
 * routes it, within this window after acceptance (so that the transport still forwards it), and
 * expires at once for every device that is offline.
 */
export const NOW_OR_NEVER_WINDOW_MS = 10_000;

export function isNowOrNever(message: Pick<MessageAcceptedV1, 'ttlSeconds'>): boolean {
  return message.ttlSeconds === 0;
}

/** When the message's deliveries expire (the wire and the sweeper use this). */
export function deliveryExpiry(message: Pick<MessageAcceptedV1, 'ttlSeconds' | 'acceptedAtMs' | 'expiresAtMs'>): number {
  return isNowOrNever(message) ? message.acceptedAtMs + NOW_OR_NEVER_WINDOW_MS : message.expiresAtMs;
}
