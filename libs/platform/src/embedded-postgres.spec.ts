import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { assertSocketPathFits, MAX_SOCKET_PATH_BYTES, scramVerifier } from './embedded-postgres';

describe('embedded PostgreSQL', () => {
  it('takes a data directory whose socket path fits in 107 bytes, and names BOREALIS_DATA_DIR and the limit beyond it', () => {
    // "/postgres/.s.PGSQL.5432" adds 23 bytes to the data directory.
    const fits = '/' + 'd'.repeat(MAX_SOCKET_PATH_BYTES - 24);
    expect(() => assertSocketPathFits(`${fits}/postgres`)).not.toThrow();
    expect(() => assertSocketPathFits(`${fits}x/postgres`)).toThrow(/BOREALIS_DATA_DIR is too long.*at most 107.*at most 84 bytes/);
    // Bytes, not characters.
    expect(() => assertSocketPathFits(`/${'é'.repeat(42)}/postgres`)).toThrow(/BOREALIS_DATA_DIR/);
  });

  it('makes SCRAM-SHA-256 verifiers that check against the password as PostgreSQL does', () => {
    const verifier = scramVerifier('s3cret');
    const match = /^SCRAM-SHA-256\$4096:([^$]+)\$([^:]+):(.+)$/.exec(verifier);
    expect(match).not.toBeNull();
    const [, salt, storedKey, serverKey] = match!;
    const salted = pbkdf2Sync('s3cret', Buffer.from(salt!, 'base64'), 4096, 32, 'sha256');
    expect(createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest('base64')).toBe(storedKey);
    expect(createHmac('sha256', salted).update('Server Key').digest('base64')).toBe(serverKey);
    expect(scramVerifier('s3cret')).not.toBe(verifier);
  });
});
