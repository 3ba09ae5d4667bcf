import { isUuid, randomToken, uuidv7 } from './ids';

describe('uuidv7', () => {
  it('is a version 7, variant 10 UUID whose first 48 bits are the time', () => {
    const id = uuidv7(0x0123456789ab);
    expect(isUuid(id)).toBe(true);
    expect(id.startsWith('01234567-89ab-7')).toBe(true);
    expect(['8', '9', 'a', 'b']).toContain(id[19]);
  });

  it('sorts by time and does not repeat across many ids (the random pool refills)', () => {
    const ids = Array.from({ length: 2000 }, (_, i) => uuidv7(1_700_000_000_000 + i));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });
});

describe('randomToken', () => {
  it('has the requested entropy and prefix', () => {
    const token = randomToken(16, 'reg_');
    expect(token).toMatch(/^reg_[A-Za-z0-9_-]{22}$/);
  });
});
