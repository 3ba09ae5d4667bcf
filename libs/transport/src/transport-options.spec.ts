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
  it('resolves the frame budgets and the per-source admission share', () => {
    const settings = resolveTransportSettings(options);
    expect(settings.frameBudgets).toEqual({
      ack: { perSecond: 500, burst: 4000, intervalMs: 2, limitMs: 8000 },
      ping: { perSecond: 2, burst: 20, intervalMs: 500, limitMs: 10_000 },
      request: { perSecond: 5, burst: 100, intervalMs: 200, limitMs: 20_000 },
    });
    expect(settings.acceptPerSource).toEqual({ perSecond: 200, burst: 400 });
    expect(resolveTransportSettings({ ...options, acceptRatePerSecond: 5, acceptBurst: 5 }).acceptPerSource).toEqual({ perSecond: 1, burst: 1 });
    expect(() => resolveTransportSettings({ ...options, frameRates: { ack: { perSecond: 10, burst: 999 } } })).toThrow(/frameRates.ack.burst must be an integer from 1000/);
    expect(() => resolveTransportSettings({ ...options, frameRates: { ping: { perSecond: 2000, burst: 1 } } })).toThrow(/frameRates.ping.perSecond/);
  });

  it('resolves the per-source enrollment and Register budgets (finding 5)', () => {
    const settings = resolveTransportSettings(options);
    expect(settings.enrollPerSource).toEqual({ perSecond: 5, burst: 100 });
    expect(settings.registerPerSource).toEqual({ perSecond: 100, burst: 2000 });
    expect(resolveTransportSettings({ ...options, enrollPerSource: { burst: 7 } }).enrollPerSource).toEqual({ perSecond: 5, burst: 7 });
    expect(() => resolveTransportSettings({ ...options, registerPerSource: { perSecond: 0 } })).toThrow(/registerPerSource.perSecond must be positive/);
    expect(() => resolveTransportSettings({ ...options, enrollPerSource: { burst: 1.5 } })).toThrow(/enrollPerSource.burst must be a positive integer/);
  });

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

  it('applies the defaults of admission, drain, backpressure and credential lifetime', () => {
    expect(resolveTransportSettings(options)).toMatchObject({
      acceptRatePerSecond: 2000,
      acceptBurst: 4000,
      maxUnsentBytes: 256 * 1024,
      writeHighWaterBytes: 16 * 1024,
      coalesceMs: 0,
      goAwaySpreadMs: 5000,
      drainGraceMs: 2000,
      sentReceiptHoldMs: 1000,
      credentialMaxAgeMs: 365 * 86_400_000,
      tls: null,
      webSocket: null,
    });
  });

  it('takes a sent-receipt hold from 0 (publish at once) to 10 s, and refuses anything else', () => {
    expect(resolveTransportSettings({ ...options, sentReceiptHoldMs: 0 }).sentReceiptHoldMs).toBe(0);
    for (const bad of [-1, 1.5, 10_001]) {
      expect(() => resolveTransportSettings({ ...options, sentReceiptHoldMs: bad })).toThrow('sentReceiptHoldMs must be an integer from 0 to 10000');
    }
  });

  it('takes a coalescing window from 0 (off) to 10 s and a positive write high-water mark, and refuses anything else', () => {
    expect(resolveTransportSettings({ ...options, coalesceMs: 25, writeHighWaterBytes: 4096 })).toMatchObject({ coalesceMs: 25, writeHighWaterBytes: 4096 });
    for (const bad of [-1, 2.5, 10_001]) {
      expect(() => resolveTransportSettings({ ...options, coalesceMs: bad })).toThrow('coalesceMs must be an integer from 0 to 10000');
    }
    expect(() => resolveTransportSettings({ ...options, writeHighWaterBytes: 0 })).toThrow('writeHighWaterBytes must be a positive integer');
  });

  it('names an unreadable certificate and a secure WebSocket without TLS', () => {
    expect(() => resolveTransportSettings({ ...options, tls: { port: 0, certFile: '/nonexistent/cert.pem', keyFile: '/nonexistent/key.pem' } })).toThrow(
      /tls\.certFile \/nonexistent\/cert\.pem cannot be read[\s\S]*tls\.keyFile/,
    );
    expect(() => resolveTransportSettings({ ...options, webSocket: { port: 0, secure: true } })).toThrow(/webSocket\.secure needs tls/);
  });

  it('names every bad option', () => {
    const bad = { ...options, instanceId: 'Bad_Id', port: 70000, credentialSecret: 'short', heartbeatIntervalMs: 5 };
    expect(() => resolveTransportSettings(bad)).toThrow(ConfigError);
    expect(() => resolveTransportSettings(bad)).toThrow(/instanceId[\s\S]*port[\s\S]*credentialSecret[\s\S]*heartbeatIntervalMs/);
  });
});
