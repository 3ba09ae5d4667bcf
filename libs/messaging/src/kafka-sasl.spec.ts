import { KafkaAuthenticationError, saslExchange } from './kafka-sasl';

describe('SASL exchanges', () => {
  it('PLAIN sends the user and password NUL-separated, with an empty authorization id, in one message', () => {
    const exchange = saslExchange({ mechanism: 'plain', username: 'alice', password: 'p@ss' });
    expect(exchange.start().toString('utf8')).toBe('\u0000alice\u0000p@ss');
    expect(exchange.next(Buffer.alloc(0))).toBeNull();
  });

  it('SCRAM-SHA-256 computes the proof of the RFC 7677 example and verifies the server signature', () => {
    const exchange = saslExchange({ mechanism: 'scram-sha-256', username: 'user', password: 'pencil' }, () => 'rOprNGfwEbeRWgbNEkqO');
    expect(exchange.start().toString()).toBe('n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
    const final = exchange.next(Buffer.from('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'));
    expect(final!.toString()).toBe('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
    expect(exchange.next(Buffer.from('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4='))).toBeNull();
  });

  it('SCRAM fails when the server cannot prove it holds the credential, or says the client failed', () => {
    const forged = saslExchange({ mechanism: 'scram-sha-256', username: 'user', password: 'pencil' }, () => 'rOprNGfwEbeRWgbNEkqO');
    forged.start();
    forged.next(Buffer.from('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'));
    expect(() => forged.next(Buffer.from(`v=${Buffer.alloc(32, 1).toString('base64')}`))).toThrow(/server signature does not match/);

    const refused = saslExchange({ mechanism: 'scram-sha-512', username: 'user', password: 'pencil' }, () => 'abc');
    refused.start();
    refused.next(Buffer.from('r=abcdef,s=c2FsdA==,i=4096'));
    expect(() => refused.next(Buffer.from('e=invalid-proof'))).toThrow(new KafkaAuthenticationError('SCRAM authentication failed: the broker says invalid-proof'));
  });

  it('SCRAM refuses a nonce that does not extend its own and too few iterations', () => {
    const a = saslExchange({ mechanism: 'scram-sha-512', username: 'u', password: 'p' }, () => 'abc');
    a.start();
    expect(() => a.next(Buffer.from('r=xyz123,s=c2FsdA==,i=4096'))).toThrow(/nonce/);
    const b = saslExchange({ mechanism: 'scram-sha-512', username: 'u', password: 'p' }, () => 'abc');
    b.start();
    expect(() => b.next(Buffer.from('r=abcdef,s=c2FsdA==,i=1'))).toThrow(/asks for 1 iterations \(at least 4096 required\)/);
  });

  it('SCRAM escapes "=" and "," in the user name', () => {
    expect(saslExchange({ mechanism: 'scram-sha-256', username: 'a=b,c', password: 'p' }, () => 'n').start().toString()).toBe('n,,n=a=3Db=2Cc,r=n');
  });
});
