// Types of kafka-broker.js (CommonJS, so that the Jest global setup can load it untransformed).

export interface KafkaSaslSslListener {
  brokers: string;
  /** The test CA's certificate (PEM file). */
  ca: string;
  plain: { username: string; password: string };
  /** A user with SCRAM-SHA-256 and SCRAM-SHA-512 credentials. */
  scram: { username: string; password: string };
}

export interface KafkaSslListener {
  brokers: string;
  ca: string;
  /** A client certificate and key (PEM files) the listener accepts; it refuses clients without one. */
  cert: string;
  key: string;
}

export interface KafkaBrokerHandle {
  version: string;
  dir: string;
  ports: { plaintext: number; saslSsl: number; ssl: number; controller: number };
  pid: number;
  /** The broker's log file. */
  log: string;
  /** PLAINTEXT bootstrap address, `127.0.0.1:port`. */
  brokers: string;
  saslSsl: KafkaSaslSslListener;
  ssl: KafkaSslListener;
  readonly running: boolean;
  exited: Promise<void>;
  stop(): Promise<void>;
  kill(): Promise<void>;
  unref(): void;
}

export interface StartKafkaBrokerOptions {
  /** Data, configuration, TLS files and credentials; reuse it to restart the same broker. */
  dir?: string;
  heapMb?: number;
  /** Extra or overriding server.properties entries. */
  serverProperties?: Record<string, string>;
  log?: (line: string) => void;
}

export function startKafkaBroker(options?: StartKafkaBrokerOptions): Promise<KafkaBrokerHandle>;
export function ensureKafkaJars(options?: { log?: (line: string) => void }): string;
export function kafkaVersion(): string;
export function cacheDir(): string;
