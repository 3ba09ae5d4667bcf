import { deliveryExpiry, NOW_OR_NEVER_WINDOW_MS } from './expiry';

describe('deliveryExpiry', () => {
  it('gives TTL 0 a short window after acceptance and keeps other expiries', () => {
    expect(deliveryExpiry({ ttlSeconds: 0, acceptedAtMs: 1000, expiresAtMs: 1000 })).toBe(1000 + NOW_OR_NEVER_WINDOW_MS);
    expect(deliveryExpiry({ ttlSeconds: 60, acceptedAtMs: 1000, expiresAtMs: 61_000 })).toBe(61_000);
  });
});
