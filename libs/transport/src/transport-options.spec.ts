import { ConfigError } from '@borealis/util';
import { resolveTransportSettings, type TransportModuleOptions } from './transport-options';

const options: TransportModuleOptions = {
  instanceId: 'transport-0',
  host: '0.0.0.0',
  port: 7070,
  credentialSecret: 'c'.repeat(32),
  heartbeatIntervalMs: 30_000,
  registrationTimeoutMs: 10_000,
};

describe('resolveTransportSettings', () => {
  it('derives the timings from the heartbeat', () => {
    expect(resolveTransportSettings(options)).toMatchObject({
      presenceTtlSeconds: 90,
      idleTimeoutMs: 75_000,
      helloTimeoutMs: 10_000,
      presenceRefreshMs: 30_000,
      sweepIntervalMs: 1000,
      requestTimeoutMs: 10_000,
    });
    expect(resolveTransportSettings({ ...options, presenceTtlSeconds: 30 }).presenceRefreshMs).toBe(10_000);
  });

  it('names every bad option', () => {
    const bad = { ...options, instanceId: 'Bad_Id', port: 70000, credentialSecret: 'short', heartbeatIntervalMs: 5 };
    expect(() => resolveTransportSettings(bad)).toThrow(ConfigError);
    expect(() => resolveTransportSettings(bad)).toThrow(/instanceId[\s\S]*port[\s\S]*credentialSecret[\s\S]*heartbeatIntervalMs/);
  });
});
