import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { Clock, randomToken } from '@borealis/util';

export interface StoredSigningKey {
  kid: string;
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  createdAt: Date;
}

/** Where auth keeps its signing keys (its own database). */
export abstract class SigningKeyStore {
  /** The newest keys, newest (the current one) first. */
  abstract newest(count: number): Promise<StoredSigningKey[]>;
  /**
   * Stores `key` as the new current key. With `onlyIfNone` it stores nothing when a key exists
   * already, atomically, so that replicas starting together end up with one key.
   */
  abstract add(key: StoredSigningKey, onlyIfNone: boolean): Promise<void>;
}

export interface PublicJwk {
  kid: string;
  kty: string;
  n: string;
  e: string;
  alg: 'RS256';
  use: 'sig';
}

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
}

interface ParsedKey extends SigningKey {
  jwk: PublicJwk;
}

/** Keys published in the JWKS: the current one and the one before, whose tokens may still be live. */
const PUBLISHED_KEYS = 2;

const generateRsaKeyPair = promisify(generateKeyPair);

/** A fresh RSA 2048 key pair as PEM: PKCS#8 private key, SPKI public key. */
export async function generateRsaPem(): Promise<{ privateKeyPem: string; publicKeyPem: string }> {
  const { privateKey, publicKey } = await generateRsaKeyPair('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/**
 * auth's access-token signing keys (RS256). The newest stored key signs; the JWKS publishes it and
 * its predecessor, so tokens signed before a rotation keep verifying until they expire (rotate no
 * more often than the access-token lifetime). Every call reads the store, so all replicas sign
 * with the same key right after a rotation on any of them; parsed keys are cached by `kid`.
 */
@Injectable()
export class SigningKeys implements OnModuleInit {
  private readonly logger = new Logger(SigningKeys.name);
  private readonly parsed = new Map<string, ParsedKey>();

  constructor(
    private readonly store: SigningKeyStore,
    private readonly clock: Clock,
  ) {}

  /**
   * The first start of a fresh database creates the first key. Later starts open the current one:
   * a key the store cannot decrypt stops the start there, and is never replaced by a new one.
   */
  async onModuleInit(): Promise<void> {
    const [current] = await this.store.newest(1);
    if (current) {
      this.parse(current);
      return;
    }
    await this.store.add(await this.generate(), true);
    this.logger.log({ msg: 'created the first access-token signing key' });
  }

  /** Makes a new current key; the previous one stays in the JWKS. Returns the new key id. */
  async rotateSigningKey(): Promise<string> {
    const key = await this.generate();
    await this.store.add(key, false);
    this.logger.log({ msg: 'rotated the access-token signing key', kid: key.kid });
    return key.kid;
  }

  async current(): Promise<SigningKey> {
    const [newest] = await this.store.newest(1);
    if (!newest) throw new Error('no access-token signing key: the module did not initialise');
    return this.parse(newest);
  }

  async jwks(): Promise<{ keys: PublicJwk[] }> {
    const keys = await this.store.newest(PUBLISHED_KEYS);
    return { keys: keys.map((key) => this.parse(key).jwk) };
  }

  private async generate(): Promise<StoredSigningKey> {
    const { privateKeyPem } = await generateRsaPem();
    return { kid: randomToken(16), privateKeyPem, createdAt: new Date(this.clock.now()) };
  }

  private parse(key: StoredSigningKey): ParsedKey {
    let parsed = this.parsed.get(key.kid);
    if (!parsed) {
      const privateKey = createPrivateKey(key.privateKeyPem);
      const { kty, n, e } = createPublicKey(privateKey).export({ format: 'jwk' });
      parsed = { kid: key.kid, privateKey, jwk: { kid: key.kid, kty: kty!, n: n!, e: e!, alg: 'RS256', use: 'sig' } };
      this.parsed.set(key.kid, parsed);
    }
    return parsed;
  }
}
