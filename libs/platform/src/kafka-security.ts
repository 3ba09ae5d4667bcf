import { readFileSync } from 'node:fs';
import type { KafkaSaslOptions, KafkaTlsOptions } from '@borealis/messaging';
import { ConfigError } from '@borealis/util';

export interface KafkaSecurityEnv {
  KAFKA_SSL: boolean;
  KAFKA_SSL_CA_FILE?: string | undefined;
  KAFKA_SSL_CERT_FILE?: string | undefined;
  KAFKA_SSL_KEY_FILE?: string | undefined;
  KAFKA_SSL_REJECT_UNAUTHORIZED: boolean;
  KAFKA_SASL_MECHANISM?: KafkaSaslOptions['mechanism'] | undefined;
  KAFKA_SASL_USERNAME?: string | undefined;
  KAFKA_SASL_PASSWORD?: string | undefined;
  KAFKA_SASL_PASSWORD_FILE?: string | undefined;
}

/**
 * The TLS and SASL settings of the Kafka clients, with the files the configuration names read
 * once at start. A file that cannot be read is a ConfigError naming the variable (and the path,
 * never the content).
 */
export function kafkaSecurity(env: KafkaSecurityEnv): { tls?: KafkaTlsOptions; sasl?: KafkaSaslOptions } {
  const out: { tls?: KafkaTlsOptions; sasl?: KafkaSaslOptions } = {};
  if (env.KAFKA_SSL) {
    out.tls = {
      rejectUnauthorized: env.KAFKA_SSL_REJECT_UNAUTHORIZED,
      ...(env.KAFKA_SSL_CA_FILE ? { ca: readPem('KAFKA_SSL_CA_FILE', env.KAFKA_SSL_CA_FILE) } : {}),
      ...(env.KAFKA_SSL_CERT_FILE ? { cert: readPem('KAFKA_SSL_CERT_FILE', env.KAFKA_SSL_CERT_FILE) } : {}),
      ...(env.KAFKA_SSL_KEY_FILE ? { key: readPem('KAFKA_SSL_KEY_FILE', env.KAFKA_SSL_KEY_FILE) } : {}),
    };
  }
  if (env.KAFKA_SASL_MECHANISM) {
    if (!env.KAFKA_SASL_USERNAME) throw new ConfigError('invalid configuration:\n  KAFKA_SASL_USERNAME: required with KAFKA_SASL_MECHANISM');
    const password = env.KAFKA_SASL_PASSWORD_FILE ? readPasswordFile(env.KAFKA_SASL_PASSWORD_FILE) : env.KAFKA_SASL_PASSWORD;
    if (!password) throw new ConfigError('invalid configuration:\n  KAFKA_SASL_PASSWORD: required with KAFKA_SASL_MECHANISM (or KAFKA_SASL_PASSWORD_FILE)');
    out.sasl = { mechanism: env.KAFKA_SASL_MECHANISM, username: env.KAFKA_SASL_USERNAME, password };
  }
  return out;
}

function read(variable: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`invalid configuration:\n  ${variable}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function readPem(variable: string, path: string): string {
  const text = read(variable, path);
  if (!text.includes('-----BEGIN ')) throw new ConfigError(`invalid configuration:\n  ${variable}: ${path} holds no PEM block`);
  return text;
}

/** A Secret mounted as a file usually ends with a newline that is not part of the password. */
function readPasswordFile(path: string): string {
  const password = read('KAFKA_SASL_PASSWORD_FILE', path).replace(/\r?\n$/, '');
  if (password.length === 0) throw new ConfigError(`invalid configuration:\n  KAFKA_SASL_PASSWORD_FILE: ${path} is empty`);
  return password;
}
