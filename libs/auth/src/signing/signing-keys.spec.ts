import { createLocalJWKSet, jwtVerify, SignJWT } from 'jose';
import { FixedClock } from '@borealis/util';
import { SigningKeys, SigningKeyStore, type StoredSigningKey } from './signing-keys';

class MemorySigningKeyStore extends SigningKeyStore {
  readonly keys: StoredSigningKey[] = [];

  async newest(count: number): Promise<StoredSigningKey[]> {
    return this.keys.slice(-count).reverse();
  }

  async add(key: StoredSigningKey, onlyIfNone: boolean): Promise<void> {
    if (onlyIfNone && this.keys.length > 0) return;
    this.keys.push(key);
  }
}

async function signWith(keys: SigningKeys): Promise<string> {
  const key = await keys.current();
  return new SignJWT({ scope: 'openid' }).setProtectedHeader({ alg: 'RS256', kid: key.kid }).setIssuer('auth').sign(key.privateKey);
}

describe('SigningKeys', () => {
  const clock = new FixedClock(Date.UTC(2025, 0, 1));

  it('creates one key on the first start and none on later starts', async () => {
    const store = new MemorySigningKeyStore();
    await new SigningKeys(store, clock).onModuleInit();
    await new SigningKeys(store, clock).onModuleInit();
    expect(store.keys).toHaveLength(1);
    expect(store.keys[0]!.createdAt).toEqual(new Date(clock.now()));
  });

  it('publishes only public RS256 signing keys', async () => {
    const keys = new SigningKeys(new MemorySigningKeyStore(), clock);
    await keys.onModuleInit();
    const { keys: jwks } = await keys.jwks();
    expect(jwks).toHaveLength(1);
    expect(Object.keys(jwks[0]!).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
    expect(jwks[0]).toMatchObject({ kid: (await keys.current()).kid, kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB' });
  });

  it('rotation makes a new current key and keeps the previous one in the JWKS', async () => {
    const store = new MemorySigningKeyStore();
    const keys = new SigningKeys(store, clock);
    await keys.onModuleInit();
    const first = (await keys.current()).kid;
    const tokenBefore = await signWith(keys);

    const second = await keys.rotateSigningKey();
    expect(second).not.toBe(first);
    expect((await keys.current()).kid).toBe(second);
    const jwks = await keys.jwks();
    expect(jwks.keys.map((k) => k.kid)).toEqual([second, first]);
    // A token signed before the rotation still verifies, and so does one signed after it.
    const keySet = createLocalJWKSet(jwks);
    await expect(jwtVerify(tokenBefore, keySet, { algorithms: ['RS256'] })).resolves.toMatchObject({ protectedHeader: { kid: first } });
    await expect(jwtVerify(await signWith(keys), keySet, { algorithms: ['RS256'] })).resolves.toMatchObject({ protectedHeader: { kid: second } });

    // Another replica sharing the store signs with the new key at once.
    expect((await new SigningKeys(store, clock).current()).kid).toBe(second);

    const third = await keys.rotateSigningKey();
    expect((await keys.jwks()).keys.map((k) => k.kid)).toEqual([third, second]);
  });
});
