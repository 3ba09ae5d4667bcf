import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, maskConfig } from '@borealis/util';
import { GatewayConfig } from './config';
import { kafkaSecurity } from './kafka-security';

const base = {
  KAFKA_BROKERS: 'k:9093',
  REDIS_URL: 'redis://r:6379',
  BOREALIS_PUBLIC_URL: 'https://push.example.com',
  AUTH_JWKS_URL: 'http://auth/jwks',
  PUSH_CORE_URL: 'http://core',
};

describe('Kafka client configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kafka-security-'));
  const pem = (name: string) => {
    const file = join(dir, name);
    writeFileSync(file, `-----BEGIN CERTIFICATE-----\n${name}\n-----END CERTIFICATE-----\n`);
    return file;
  };

  it('defaults: idempotent, 1048588-byte requests, no TLS, no SASL', () => {
    const c = loadConfig(GatewayConfig, base);
    expect(c).toMatchObject({ KAFKA_IDEMPOTENT: true, KAFKA_MAX_REQUEST_BYTES: 1_048_588, KAFKA_SSL: false, KAFKA_SSL_REJECT_UNAUTHORIZED: true });
    expect(kafkaSecurity(c)).toEqual({});
  });

  it('reads the CA, client certificate and key, and the SASL password from its file (without the trailing newline)', () => {
    const passwordFile = join(dir, 'password');
    writeFileSync(passwordFile, 's3cret-pass\n');
    const c = loadConfig(GatewayConfig, {
      ...base,
      KAFKA_SSL: 'true',
      KAFKA_SSL_CA_FILE: pem('ca.pem'),
      KAFKA_SSL_CERT_FILE: pem('client.pem'),
      KAFKA_SSL_KEY_FILE: pem('client.key'),
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: 'borealis',
      KAFKA_SASL_PASSWORD_FILE: passwordFile,
    });
    const security = kafkaSecurity(c);
    expect(security.tls).toEqual({ rejectUnauthorized: true, ca: expect.stringContaining('ca.pem'), cert: expect.stringContaining('client.pem'), key: expect.stringContaining('client.key') });
    expect(security.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'borealis', password: 's3cret-pass' });
  });

  it('refuses settings that only make sense together, naming the variable', () => {
    const bad = (env: Record<string, string>) => () => loadConfig(GatewayConfig, { ...base, ...env });
    expect(bad({ KAFKA_SSL_CA_FILE: '/ca.pem' })).toThrow(/KAFKA_SSL_CA_FILE: KAFKA_SSL_CA_FILE is set but KAFKA_SSL is not true/);
    expect(bad({ KAFKA_SSL: 'true', KAFKA_SSL_CERT_FILE: '/c.pem' })).toThrow(/KAFKA_SSL_KEY_FILE: a client certificate needs both/);
    expect(bad({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_PASSWORD: 'p' })).toThrow(/KAFKA_SASL_USERNAME: KAFKA_SASL_USERNAME is required/);
    expect(bad({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u' })).toThrow(/KAFKA_SASL_PASSWORD: give exactly one of/);
    expect(bad({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p', KAFKA_SASL_PASSWORD_FILE: '/p' })).toThrow(/give exactly one of/);
    expect(bad({ KAFKA_SASL_PASSWORD: 'p' })).toThrow(/KAFKA_SASL_PASSWORD is set but KAFKA_SASL_MECHANISM is not/);
    expect(bad({ KAFKA_SASL_MECHANISM: 'gssapi', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' })).toThrow(/KAFKA_SASL_MECHANISM/);
    expect(bad({ KAFKA_MAX_REQUEST_BYTES: '100' })).toThrow(/KAFKA_MAX_REQUEST_BYTES must be at least 4096/);
    expect(bad({ KAFKA_IDEMPOTENT: 'yes' })).toThrow(/KAFKA_IDEMPOTENT/);
  });

  it('a file that cannot be read is a ConfigError naming the variable and path', () => {
    const c = loadConfig(GatewayConfig, { ...base, KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: join(dir, 'missing.pem') });
    expect(() => kafkaSecurity(c)).toThrow(ConfigError);
    expect(() => kafkaSecurity(c)).toThrow(/KAFKA_SSL_CA_FILE: cannot read .*missing.pem \(ENOENT\)/);
    const notPem = join(dir, 'not.pem');
    writeFileSync(notPem, 'hello');
    expect(() => kafkaSecurity({ ...c, KAFKA_SSL_CA_FILE: notPem })).toThrow(/holds no PEM block/);
  });

  it('never shows the SASL password (nor key and password file paths) in the logged configuration', () => {
    const c = loadConfig(GatewayConfig, { ...base, KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'hunter2-very-secret' });
    const logged = JSON.stringify(maskConfig(c));
    expect(logged).not.toContain('hunter2-very-secret');
    expect(maskConfig(c)['KAFKA_SASL_PASSWORD']).toBe('***');
    expect(maskConfig(c)['KAFKA_SASL_USERNAME']).toBe('u');
  });
});
