import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

/** The SASL mechanisms Borealis speaks to Kafka, spelled as kafkajs spells them. */
export type KafkaSaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

export interface KafkaSaslOptions {
  mechanism: KafkaSaslMechanism;
  username: string;
  password: string;
}

/** Authentication with the broker failed: bad credentials, a mechanism it does not enable, a server proof that does not verify. */
export class KafkaAuthenticationError extends Error {
  override name = 'KafkaAuthenticationError';
}

/** The mechanism's name in SaslHandshake. */
export function kafkaMechanismName(mechanism: KafkaSaslMechanism): string {
  return mechanism.toUpperCase();
}

/**
 * One SASL exchange, as the client sees it: `start()` gives the first message; `next(challenge)`
 * the answer to each server message, or null when the exchange is complete (and verified).
 */
export interface SaslExchange {
  start(): Buffer;
  next(challenge: Buffer): Buffer | null;
}

export function saslExchange(options: KafkaSaslOptions, nonce: () => string = () => randomBytes(24).toString('base64url')): SaslExchange {
  if (options.mechanism === 'plain') return plainExchange(options);
  return new ScramExchange(options.mechanism === 'scram-sha-256' ? 'sha256' : 'sha512', options.username, options.password, nonce());
}

/** RFC 4616: authorization id (empty: the same as the user), user, password, NUL-separated. */
function plainExchange({ username, password }: KafkaSaslOptions): SaslExchange {
  return {
    start: () => Buffer.from(`\u0000${username}\u0000${password}`, 'utf8'),
    next: () => null,
  };
}

/**
 * SCRAM (RFC 5802) with SHA-256 or SHA-512 (RFC 7677), no channel binding ("n,,"), as Kafka
 * implements it. The password is used as given (Kafka's own clients do not SASLprep it either, and
 * the broker stored its credential that way). The server's signature is verified: a broker that
 * cannot prove it knows the credential fails the exchange.
 */
class ScramExchange implements SaslExchange {
  /** Kafka refuses fewer; a server that asks for fewer is not a Kafka broker to trust. */
  static readonly MIN_ITERATIONS = 4096;
  private step: 'first' | 'final' | 'verify' | 'done' = 'first';
  private readonly clientFirstBare: string;
  private serverSignature: Buffer | null = null;

  constructor(
    private readonly hash: 'sha256' | 'sha512',
    username: string,
    private readonly password: string,
    private readonly clientNonce: string,
  ) {
    this.clientFirstBare = `n=${saslName(username)},r=${clientNonce}`;
  }

  start(): Buffer {
    this.step = 'final';
    return Buffer.from(`n,,${this.clientFirstBare}`, 'utf8');
  }

  next(challenge: Buffer): Buffer | null {
    const message = challenge.toString('utf8');
    if (this.step === 'final') {
      this.step = 'verify';
      return Buffer.from(this.clientFinal(message), 'utf8');
    }
    if (this.step === 'verify') {
      this.step = 'done';
      const attrs = parseAttributes(message);
      const error = attrs.get('e');
      if (error !== undefined) throw new KafkaAuthenticationError(`SCRAM authentication failed: the broker says ${error}`);
      const verifier = attrs.get('v');
      const expected = this.serverSignature!;
      const got = verifier === undefined ? Buffer.alloc(0) : Buffer.from(verifier, 'base64');
      if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
        throw new KafkaAuthenticationError('SCRAM authentication failed: the broker\'s server signature does not match (not the broker that holds this credential)');
      }
      return null;
    }
    throw new KafkaAuthenticationError('SCRAM authentication failed: the broker sent more messages than the exchange has');
  }

  private clientFinal(serverFirst: string): string {
    const attrs = parseAttributes(serverFirst);
    if (attrs.has('m')) throw new KafkaAuthenticationError('SCRAM authentication failed: the broker requires an extension this client does not know');
    const nonce = attrs.get('r');
    const salt = attrs.get('s');
    const iterations = Number(attrs.get('i'));
    if (!nonce || !nonce.startsWith(this.clientNonce) || nonce.length === this.clientNonce.length) {
      throw new KafkaAuthenticationError('SCRAM authentication failed: the broker\'s nonce does not extend the client\'s');
    }
    if (!salt) throw new KafkaAuthenticationError('SCRAM authentication failed: the broker sent no salt');
    if (!Number.isInteger(iterations) || iterations < ScramExchange.MIN_ITERATIONS) {
      throw new KafkaAuthenticationError(`SCRAM authentication failed: the broker asks for ${attrs.get('i') ?? 'no'} iterations (at least ${ScramExchange.MIN_ITERATIONS} required)`);
    }
    const keyLength = this.hash === 'sha256' ? 32 : 64;
    const salted = pbkdf2Sync(Buffer.from(this.password, 'utf8'), Buffer.from(salt, 'base64'), iterations, keyLength, this.hash);
    const clientKey = this.hmac(salted, 'Client Key');
    const storedKey = createHash(this.hash).update(clientKey).digest();
    // "biws" is base64("n,,"): the GS2 header without channel binding.
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const clientSignature = this.hmac(storedKey, authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
    this.serverSignature = this.hmac(this.hmac(salted, 'Server Key'), authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  private hmac(key: Buffer, text: string): Buffer {
    return createHmac(this.hash, key).update(text, 'utf8').digest();
  }
}

/** RFC 5802 saslname: "=" and "," escaped. */
function saslName(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

function parseAttributes(message: string): Map<string, string> {
  const attrs = new Map<string, string>();
  for (const part of message.split(',')) {
    const at = part.indexOf('=');
    if (at === 1) attrs.set(part[0]!, part.slice(2));
  }
  return attrs;
}
