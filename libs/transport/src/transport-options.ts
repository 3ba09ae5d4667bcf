import { isValidInstanceId } from '@borealis/contracts';
import { ConfigError } from '@borealis/util';

export interface TransportModuleOptions {
  /** Stable id of this instance (e.g. a StatefulSet ordinal); its inbox is transportInboxTopic(instanceId). */
  instanceId: string;
  /** Bind address of the device port, e.g. 0.0.0.0. */
  host: string;
  /** Device TCP port (0 = ephemeral, for tests). */
  port: number;
  /** HMAC key of device credentials, at least 32 characters; the same on every transport instance. */
  credentialSecret: string;
  /** Heartbeat interval told to devices in Welcome. */
  heartbeatIntervalMs: number;
  /** How long a device request waits for push-core's reply before it fails with UNAVAILABLE. */
  registrationTimeoutMs: number;
  /** TTL of presence entries; default 3 × heartbeat. */
  presenceTtlSeconds?: number;
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
  /** Period of the one timer that sweeps all connections. */
  sweepIntervalMs: number;
  /** Registration requests a connection may have waiting for push-core at once. */
  maxPendingRequests: number;
}

export const TRANSPORT_SETTINGS = Symbol('TRANSPORT_SETTINGS');

const MAX_PENDING_REQUESTS = 16;
const MAX_HELLO_WAIT_MS = 10_000;

export function resolveTransportSettings(options: TransportModuleOptions): TransportSettings {
  const problems: string[] = [];
  if (!isValidInstanceId(options.instanceId)) problems.push(`instanceId "${options.instanceId}" must match [a-z0-9][a-z0-9-]{0,62}`);
  if (!options.host) problems.push('host is required');
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) problems.push('port must be an integer in 0..65535');
  if (typeof options.credentialSecret !== 'string' || options.credentialSecret.length < 32) problems.push('credentialSecret must be at least 32 characters');
  // uint32 on the wire; below 100 ms the sweep could not keep up.
  if (!Number.isInteger(options.heartbeatIntervalMs) || options.heartbeatIntervalMs < 100 || options.heartbeatIntervalMs > 0xffffffff) {
    problems.push('heartbeatIntervalMs must be an integer of at least 100');
  }
  if (!Number.isInteger(options.registrationTimeoutMs) || options.registrationTimeoutMs < 1) problems.push('registrationTimeoutMs must be a positive integer');
  const presenceTtlSeconds = options.presenceTtlSeconds ?? Math.ceil((3 * options.heartbeatIntervalMs) / 1000);
  if (!Number.isInteger(presenceTtlSeconds) || presenceTtlSeconds < 1) problems.push('presenceTtlSeconds must be a positive integer');
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
  };
}
