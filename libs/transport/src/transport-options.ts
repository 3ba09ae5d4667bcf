import { readFileSync } from 'node:fs';
import { isValidInstanceId } from '@borealis/contracts';
import { ConfigError } from '@borealis/util';

/** A per-second rate and a burst: a token bucket. */
export interface RateOption {
  perSecond: number;
  burst: number;
}

/**
 * Frames one connection may send, per kind (token buckets, docs/protocol.md). Hello comes once by
 * protocol, and a frame a device may not send closes the connection at once, so these three cover
 * every frame a device can repeat.
 */
export interface FrameRateOptions {
  /** Counted in message ids (an empty Ack counts one): decoding an Ack costs by its ids. Burst at least 1000, the ids one Ack may carry. */
  ack: RateOption;
  ping: RateOption;
  /** Register, Unregister, Subscribe, Unsubscribe and RotateCredentials, together. */
  request: RateOption;
}

/**
 * Defaults far above what the SDK sends (it acknowledges what it received, at most 2048 of which
 * are outstanding; a Ping per heartbeat; a Register per app at start) and far below what costs the
 * server: a device past them is broken or hostile.
 */
export const DEFAULT_FRAME_RATES: FrameRateOptions = {
  ack: { perSecond: 500, burst: 4000 },
  ping: { perSecond: 2, burst: 20 },
  request: { perSecond: 5, burst: 100 },
};

/** A budget as the session spends it (GCRA): one unit per `intervalMs`, at most `limitMs` (= burst × interval) ahead. */
export interface FrameBudget extends RateOption {
  intervalMs: number;
  limitMs: number;
}

export interface TransportModuleOptions {
  /** Stable id of this instance (e.g. a StatefulSet ordinal); its inbox is transportInboxTopic(instanceId). */
  instanceId: string;
  /** Bind address of the device ports, e.g. 0.0.0.0. */
  host: string;
  /** Device TCP port (0 = ephemeral, for tests). */
  port: number;
  /** HMAC key of device credentials, at least 32 characters; the same on every transport instance. */
  credentialSecret: string;
  /** Keys of earlier rotations of credentialSecret, still accepted (devices presenting them are renewed). */
  previousCredentialSecrets?: string[];
  /** Device secrets expire after this many days; devices are renewed from half of it. Default 365. */
  credentialMaxAgeDays?: number;
  /** Heartbeat interval told to devices in Welcome. */
  heartbeatIntervalMs: number;
  /** How long a device request waits for push-core's reply before it fails with UNAVAILABLE. */
  registrationTimeoutMs: number;
  /** TTL of presence entries; default 3 × heartbeat. */
  presenceTtlSeconds?: number;
  /** TLS device port with its certificate chain and key (PEM files). */
  tls?: { port: number; certFile: string; keyFile: string };
  /** WebSocket device port (path /device, one binary message per frame); over TLS when `tls` is set and `secure`. */
  webSocket?: { port: number; secure?: boolean };
  /** Admission control: connections accepted per second (token bucket) and burst. Default 2000/s, burst 4000. */
  acceptRatePerSecond?: number;
  acceptBurst?: number;
  /** Connections held at most; beyond, new ones are sent away. Default 1,000,000. */
  maxConnections?: number;
  /**
   * A device whose unsent bytes (in its socket and in its write queue together) exceed this is cut
   * off. Default 256 KiB.
   */
  maxUnsentBytes?: number;
  /**
   * Beyond this many bytes unsent in a connection's socket, further notifications wait in the
   * connection's own write queue, `high` ones ahead of `normal` ones, and go out as the socket
   * drains. At maxUnsentBytes or above there is no queue: every notification goes straight to the
   * socket, in arrival order. Default 16 KiB.
   */
  writeHighWaterBytes?: number;
  /**
   * Normal-priority pushes to a device that speaks protocol version 3 are held up to this long and
   * go out together in one Notifications frame; high ones never wait. 0 turns coalescing off (the
   * default: see docs/delivery.md). At most 10000.
   */
  coalesceMs?: number;
  /** GoAway reconnect delays are spread over at least this range. Default 5000 ms. */
  goAwaySpreadMs?: number;
  /** After GoAway, devices get this long to close before their sockets are cut. Default 2000 ms. */
  drainGraceMs?: number;
  /**
   * A written delivery's `sent` receipt waits this long for the device's Ack, and is not published
   * when the Ack comes first (`delivered` follows any open state). 0 publishes it at once. Default 1000 ms.
   */
  sentReceiptHoldMs?: number;
  /** Per-connection frame budgets by kind; defaults in DEFAULT_FRAME_RATES. */
  frameRates?: Partial<FrameRateOptions>;
  /**
   * Admission share of one source (an IPv4 address or an IPv6 /64): connections per second and
   * burst it may take from the accept bucket. Default a tenth of acceptRatePerSecond and acceptBurst.
   */
  acceptPerSource?: Partial<RateOption>;
  /**
   * Enrollments (Hello without credentials: a new device id) one source may make, per second and
   * at once, across its connections. Default 5 a second, 100 at once: a device enrolls once in its life.
   */
  enrollPerSource?: Partial<RateOption>;
  /** Register requests one source may make, per second and at once, across its connections. Default 100 a second, 2000 at once. */
  registerPerSource?: Partial<RateOption>;
}

/** The options with defaults applied and the timings derived from them. */
export interface TransportSettings {
  instanceId: string;
  host: string;
  port: number;
  heartbeatIntervalMs: number;
  requestTimeoutMs: number;
  presenceTtlSeconds: number;
  /** A connection that sends nothing for this long is closed (2.5 heartbeats). */
  idleTimeoutMs: number;
  /** A connection must send Hello within this time. */
  helloTimeoutMs: number;
  /** Presence is rewritten this often, well inside its TTL. */
  presenceRefreshMs: number;
  /** Slot width of the timer wheel (its one interval timer fires this often). */
  sweepIntervalMs: number;
  /** Registration requests a connection may have waiting for push-core at once. */
  maxPendingRequests: number;
  credentialMaxAgeMs: number;
  tls: { port: number; cert: Buffer; key: Buffer } | null;
  webSocket: { port: number; secure: boolean } | null;
  acceptRatePerSecond: number;
  acceptBurst: number;
  maxConnections: number;
  maxUnsentBytes: number;
  writeHighWaterBytes: number;
  coalesceMs: number;
  goAwaySpreadMs: number;
  drainGraceMs: number;
  sentReceiptHoldMs: number;
  frameBudgets: { ack: FrameBudget; ping: FrameBudget; request: FrameBudget };
  acceptPerSource: RateOption;
  enrollPerSource: RateOption;
  registerPerSource: RateOption;
}

export const TRANSPORT_SETTINGS = Symbol('TRANSPORT_SETTINGS');

const MAX_PENDING_REQUESTS = 16;
/** The ids one Ack may carry (device-session.ts has the same; a dependency that way would be circular). */
const MAX_ACK_IDS = 1000;
const MAX_HELLO_WAIT_MS = 10_000;
const DAY_MS = 86_400_000;
const DEFAULT_SENT_RECEIPT_HOLD_MS = 1000;
const DEFAULT_WRITE_HIGH_WATER_BYTES = 16 * 1024;
/** Longer holds a push past what "normal priority" lets an app server expect. */
export const MAX_COALESCE_MS = 10_000;
/** Longer would keep the status API's `sent` from meaning "written, not yet acknowledged" for long. */
const MAX_SENT_RECEIPT_HOLD_MS = 10_000;
/** Per source (docs/security.md, finding 5): far above what the devices behind one address enroll and register, far below a stuffing run. */
export const DEFAULT_ENROLL_PER_SOURCE: RateOption = { perSecond: 5, burst: 100 };
export const DEFAULT_REGISTER_PER_SOURCE: RateOption = { perSecond: 100, burst: 2000 };

export function resolveTransportSettings(options: TransportModuleOptions): TransportSettings {
  const problems: string[] = [];
  const positive = (name: string, value: number | undefined, fallback: number): number => {
    const v = value ?? fallback;
    if (!Number.isInteger(v) || v < 1) problems.push(`${name} must be a positive integer`);
    return v;
  };
  const port = (name: string, value: number) => {
    if (!Number.isInteger(value) || value < 0 || value > 65535) problems.push(`${name} must be an integer in 0..65535`);
  };
  if (!isValidInstanceId(options.instanceId)) problems.push(`instanceId "${options.instanceId}" must match [a-z0-9][a-z0-9-]{0,62}`);
  if (!options.host) problems.push('host is required');
  port('port', options.port);
  if (typeof options.credentialSecret !== 'string' || options.credentialSecret.length < 32) problems.push('credentialSecret must be at least 32 characters');
  if ((options.previousCredentialSecrets ?? []).some((s) => s.length < 32)) problems.push('previousCredentialSecrets must each be at least 32 characters');
  // uint32 on the wire; below 100 ms the wheel could not keep up.
  if (!Number.isInteger(options.heartbeatIntervalMs) || options.heartbeatIntervalMs < 100 || options.heartbeatIntervalMs > 0xffffffff) {
    problems.push('heartbeatIntervalMs must be an integer of at least 100');
  }
  if (!Number.isInteger(options.registrationTimeoutMs) || options.registrationTimeoutMs < 1) problems.push('registrationTimeoutMs must be a positive integer');
  const presenceTtlSeconds = options.presenceTtlSeconds ?? Math.ceil((3 * options.heartbeatIntervalMs) / 1000);
  if (!Number.isInteger(presenceTtlSeconds) || presenceTtlSeconds < 1) problems.push('presenceTtlSeconds must be a positive integer');
  const credentialMaxAgeDays = positive('credentialMaxAgeDays', options.credentialMaxAgeDays, 365);
  let tls: TransportSettings['tls'] = null;
  if (options.tls) {
    port('tls.port', options.tls.port);
    const read = (what: string, file: string): Buffer => {
      try {
        return readFileSync(file);
      } catch (err) {
        problems.push(`tls.${what} ${file} cannot be read: ${(err as Error).message}`);
        return Buffer.alloc(0);
      }
    };
    tls = { port: options.tls.port, cert: read('certFile', options.tls.certFile), key: read('keyFile', options.tls.keyFile) };
  }
  let webSocket: TransportSettings['webSocket'] = null;
  if (options.webSocket) {
    port('webSocket.port', options.webSocket.port);
    if (options.webSocket.secure && !options.tls) problems.push('webSocket.secure needs tls (a certificate and key)');
    webSocket = { port: options.webSocket.port, secure: options.webSocket.secure ?? false };
  }
  const acceptRatePerSecond = positive('acceptRatePerSecond', options.acceptRatePerSecond, 2000);
  const acceptBurst = positive('acceptBurst', options.acceptBurst, 2 * acceptRatePerSecond);
  const maxConnections = positive('maxConnections', options.maxConnections, 1_000_000);
  const maxUnsentBytes = positive('maxUnsentBytes', options.maxUnsentBytes, 256 * 1024);
  const writeHighWaterBytes = positive('writeHighWaterBytes', options.writeHighWaterBytes, DEFAULT_WRITE_HIGH_WATER_BYTES);
  const coalesceMs = options.coalesceMs ?? 0;
  if (!Number.isInteger(coalesceMs) || coalesceMs < 0 || coalesceMs > MAX_COALESCE_MS) problems.push(`coalesceMs must be an integer from 0 to ${MAX_COALESCE_MS}`);
  const goAwaySpreadMs = positive('goAwaySpreadMs', options.goAwaySpreadMs, 5000);
  const drainGraceMs = positive('drainGraceMs', options.drainGraceMs, 2000);
  const sentReceiptHoldMs = options.sentReceiptHoldMs ?? DEFAULT_SENT_RECEIPT_HOLD_MS;
  if (!Number.isInteger(sentReceiptHoldMs) || sentReceiptHoldMs < 0 || sentReceiptHoldMs > MAX_SENT_RECEIPT_HOLD_MS) {
    problems.push(`sentReceiptHoldMs must be an integer from 0 to ${MAX_SENT_RECEIPT_HOLD_MS}`);
  }
  const budget = (name: keyof FrameRateOptions): FrameBudget => {
    const { perSecond, burst } = { ...DEFAULT_FRAME_RATES[name], ...options.frameRates?.[name] };
    // The session keeps due times in whole milliseconds: at most one frame per millisecond.
    if (!Number.isInteger(perSecond) || perSecond < 1 || perSecond > 1000) problems.push(`frameRates.${name}.perSecond must be an integer from 1 to 1000`);
    const minBurst = name === 'ack' ? MAX_ACK_IDS : 1;
    if (!Number.isInteger(burst) || burst < minBurst || burst > 100_000) problems.push(`frameRates.${name}.burst must be an integer from ${minBurst} to 100000`);
    const intervalMs = Math.max(1, Math.round(1000 / perSecond));
    return { perSecond, burst, intervalMs, limitMs: burst * intervalMs };
  };
  const frameBudgets = { ack: budget('ack'), ping: budget('ping'), request: budget('request') };
  const acceptPerSource = {
    perSecond: options.acceptPerSource?.perSecond ?? Math.max(1, acceptRatePerSecond / 10),
    burst: options.acceptPerSource?.burst ?? Math.max(1, Math.floor(acceptBurst / 10)),
  };
  if (!(acceptPerSource.perSecond > 0)) problems.push('acceptPerSource.perSecond must be positive');
  if (!Number.isInteger(acceptPerSource.burst) || acceptPerSource.burst < 1) problems.push('acceptPerSource.burst must be a positive integer');
  const perSource = (name: 'enrollPerSource' | 'registerPerSource', fallback: RateOption): RateOption => {
    const rate = { ...fallback, ...options[name] };
    if (!(rate.perSecond > 0)) problems.push(`${name}.perSecond must be positive`);
    if (!Number.isInteger(rate.burst) || rate.burst < 1) problems.push(`${name}.burst must be a positive integer`);
    return rate;
  };
  const enrollPerSource = perSource('enrollPerSource', DEFAULT_ENROLL_PER_SOURCE);
  const registerPerSource = perSource('registerPerSource', DEFAULT_REGISTER_PER_SOURCE);
  if (problems.length > 0) throw new ConfigError(`invalid transport options:\n  ${problems.join('\n  ')}`);

  const idleTimeoutMs = Math.round(2.5 * options.heartbeatIntervalMs);
  const presenceRefreshMs = Math.floor((presenceTtlSeconds * 1000) / 3);
  return {
    instanceId: options.instanceId,
    host: options.host,
    port: options.port,
    heartbeatIntervalMs: options.heartbeatIntervalMs,
    requestTimeoutMs: options.registrationTimeoutMs,
    presenceTtlSeconds,
    idleTimeoutMs,
    helloTimeoutMs: Math.min(idleTimeoutMs, MAX_HELLO_WAIT_MS),
    presenceRefreshMs,
    // Fine enough that request timeouts and presence refreshes are late by a small fraction only.
    sweepIntervalMs: Math.max(20, Math.min(1000, Math.floor(Math.min(options.heartbeatIntervalMs, options.registrationTimeoutMs, presenceRefreshMs) / 4))),
    maxPendingRequests: MAX_PENDING_REQUESTS,
    credentialMaxAgeMs: credentialMaxAgeDays * DAY_MS,
    tls,
    webSocket,
    acceptRatePerSecond,
    acceptBurst,
    maxConnections,
    maxUnsentBytes,
    writeHighWaterBytes,
    coalesceMs,
    goAwaySpreadMs,
    drainGraceMs,
    sentReceiptHoldMs,
    frameBudgets,
    acceptPerSource,
    enrollPerSource,
    registerPerSource,
  };
}
