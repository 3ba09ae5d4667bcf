import { createHash } from 'node:crypto';
import {
  DeviceErrorCode,
  MIN_PROTOCOL_VERSION,
  NOTIFICATIONS_FRAME_VERSION,
  PROTOCOL_VERSION,
  RegistrationRequestedV1,
  type DeliveryReceiptV1,
  type DeliveryV1,
  type Frame,
  type FrameInit,
  type RegistrationOp,
  type RegistrationReplyV1,
} from '@borealis/contracts';
import type { CredentialAuthority } from './credentials';
import { errorFrame, replyFrame, requestTimeoutFrame } from './frames';
import type { GroupDeliveries } from './group-deliveries';
import type { FrameBudget, TransportSettings } from './transport-options';

/** What the socket adapter must do besides writing frames. */
export type SessionEffect =
  /** The device proved who it is: route it here, set presence, publish `connected`. */
  | { type: 'authenticated'; deviceId: string }
  | { type: 'refreshPresence'; deviceId: string }
  | { type: 'publishRegistration'; request: RegistrationRequestedV1 }
  | { type: 'publishReceipt'; receipt: DeliveryReceiptV1 }
  /** End the connection once the frames of this step are written. */
  | { type: 'close'; reason: string }
  /** GoAway was sent: keep reading (late Acks still count) until the device closes or the grace runs out. */
  | { type: 'linger' }
  /** The connection that held the device is gone: remove presence if still owned, publish `disconnected`. */
  | { type: 'released'; deviceId: string };

export interface Step {
  send: FrameInit[];
  effects: SessionEffect[];
}

export type SessionSettings = Pick<
  TransportSettings,
  'instanceId' | 'heartbeatIntervalMs' | 'idleTimeoutMs' | 'helloTimeoutMs' | 'requestTimeoutMs' | 'presenceRefreshMs' | 'maxPendingRequests' | 'frameBudgets'
>;

/**
 * What every session of a server shares (one object, so that a session holds one reference to it):
 * settings, the credential authority, and the epoch its times count from.
 */
export interface SessionContext {
  settings: SessionSettings;
  /**
   * Sessions keep their times as milliseconds since this (the server's start): small integers,
   * which V8 stores in the session itself, where an epoch time is a separate 16-byte number. Past
   * about 24 days since it they are stored as such numbers again (the same results, more memory).
   */
  epochMs: number;
  credentials: Pick<CredentialAuthority, 'issue' | 'verify'>;
  /** The protocol versions this server speaks, lowest and highest. */
  versions?: { min: number; max: number };
  /** Budgets a source (an IPv4 address or an IPv6 /64) shares across its connections; none: unlimited. */
  sourceLimits?: SourceLimits;
  /** Unacknowledged notifications of group pushes, per message (none: each session keeps its own). */
  groups?: GroupDeliveries;
  newCorrelationId(): string;
}

/**
 * Per-source budgets of what costs push-core rows (docs/security.md, finding 5): each call spends
 * one unit of the source's budget and says whether there was one.
 */
export interface SourceLimits {
  /** A Hello without credentials: a new device id. */
  enroll(source: string, nowMs: number): boolean;
  register(source: string, nowMs: number): boolean;
}

/** `draining`: GoAway was sent; only Ack and Ping are still served. */
type Phase = 'awaitingHello' | 'open' | 'draining' | 'closing' | 'closed';

interface PendingRequest {
  correlationId: string;
  op: RegistrationOp;
  deadlineMs: number;
}

/** Delay a replaced connection is told to wait: if two devices share credentials, they do not fight in a tight loop. */
export const REPLACED_RECONNECT_DELAY_MS = 5000;
export const MAX_ACK_IDS = 1000;
/** An application's registration secret (auth issues 46 characters); longer is not one. */
const MAX_REGISTRATION_SECRET_CHARS = 256;
/**
 * Notifications a connection remembers as written and not yet acknowledged. A device that never
 * acknowledges cannot grow this without bound; past it the oldest is forgotten, and its late Ack
 * is ignored (the delivery stays open and is sent again on the device's next connection).
 */
export const MAX_UNACKED = 2048;

const NOTHING: Step = Object.freeze({ send: [], effects: [] }) as Step;

/**
 * One device connection as a pure state machine: inputs are decoded frames, framing errors, push-core
 * replies, deliveries and clock ticks; outputs are frames to write and effects for the adapter to
 * perform. No sockets, timers or I/O here, so every protocol rule is unit-tested directly.
 *
 * awaitingHello → open → (draining →) closing → closed. Only Hello is accepted first; any protocol
 * fault answers an Error and closes; request failures (Register, Unregister, Subscribe, Unsubscribe,
 * Ack) answer an Error and keep the connection. After GoAway (draining) the device may still
 * acknowledge what it received and ping; everything else is ignored until it closes.
 */
export class DeviceSession {
  private phase: Phase = 'awaitingHello';
  private id: string | null = null;
  /** Negotiated in Hello; version 1 devices have no local users. */
  private version = 1;
  /** False once a newer connection of the same device took over the route. */
  private holdsRoute = false;
  /** The last frame from the device; before Hello, when the connection opened (the Hello deadline counts from it). */
  private lastActivityAt: number;
  /** When presence was last set (or refreshed). Both times: ms since `context.epochMs`. */
  private lastPresenceAt = 0;
  /** Created on the first request: most connections never make one, and an empty Map costs memory. */
  private pending: Map<number, PendingRequest> | null = null;
  /**
   * The notifications written on this connection and not yet acknowledged, by `ackKey` of their
   * message id: an Ack counts for these only, so a device cannot turn made-up ids into receipt
   * work for push-core. Usually one is outstanding (a push, its Ack, the next push): it sits in
   * `unackedOne`, which costs no allocation per delivery; a Set holds them from the second on, and
   * is dropped once empty. Keys, not the ids: a small integer keeps nothing alive, where each id
   * string kept for a device that does not acknowledge cost the broadcast benchmark a sixth of
   * its throughput (docs/benchmarks.md). The notifications of a group push past the first are kept
   * by the server's `GroupDeliveries` instead, as a bit of this connection's slot (`groupSlot`,
   * taken on the first, given back on close) in the message's entry.
   */
  private unackedOne: number | null = null;
  private unacked: Set<number> | null = null;
  private groupSlot = -1;
  /** The slot's tenancy (GroupDeliveries.tenancy when it was taken). */
  private groupSince = 0;
  /**
   * Per-connection frame budgets as GCRA, the one-number form of a token bucket: when the next
   * frame of the kind is due (ms since the epoch, a small integer), so three fields and no
   * allocation per frame.
   */
  private ackDueAt = 0;
  private pingDueAt = 0;
  private requestDueAt = 0;

  constructor(
    private readonly context: SessionContext,
    openedAtMs: number,
    /** The source the connection is counted against (admission.ts, sourceOf). */
    readonly source = '',
  ) {
    this.lastActivityAt = sinceEpoch(openedAtMs, context.epochMs);
  }

  private get settings(): SessionSettings {
    return this.context.settings;
  }

  get deviceId(): string | null {
    return this.id;
  }

  /** The device negotiated a version that takes several notifications in one Notifications frame. */
  get takesNotificationBatches(): boolean {
    return this.version >= NOTIFICATIONS_FRAME_VERSION;
  }

  get isOpen(): boolean {
    return this.phase === 'open';
  }

  /** False once the session decided to close: further input is ignored. */
  get acceptsInput(): boolean {
    return this.phase === 'awaitingHello' || this.phase === 'open' || this.phase === 'draining';
  }

  get pendingRequests(): number {
    return this.pending?.size ?? 0;
  }

  /** When onTick next has something to do (the timer wheel slot of this connection). */
  nextDeadline(): number {
    switch (this.phase) {
      case 'awaitingHello':
        // Any frame before Hello ends this phase, so lastActivityAt is still the opening time.
        return this.context.epochMs + this.lastActivityAt + this.settings.helloTimeoutMs;
      case 'open': {
        let next = this.context.epochMs + Math.min(this.lastActivityAt + this.settings.idleTimeoutMs, this.lastPresenceAt + this.settings.presenceRefreshMs);
        if (this.pending) for (const request of this.pending.values()) next = Math.min(next, request.deadlineMs);
        return next;
      }
      default:
        return Infinity;
    }
  }

  onFrame(frame: Frame, nowMs: number): Step {
    if (!this.acceptsInput) return NOTHING;
    const now = sinceEpoch(nowMs, this.context.epochMs);
    this.lastActivityAt = now;
    const kind = frame.kind;
    if (kind === undefined) return this.fail(DeviceErrorCode.UNKNOWN_FRAME, 'frame carries no known kind');
    const budgets = this.settings.frameBudgets;
    if (this.phase === 'draining') {
      if (kind === 'ack') return this.ack(frame.ack?.messageIds ?? [], nowMs, now);
      if (kind === 'ping') return this.ping(frame.ping?.nonce ?? 0, now);
      return NOTHING;
    }
    if (this.phase === 'awaitingHello') {
      if (kind !== 'hello') return this.fail(DeviceErrorCode.PROTOCOL_VIOLATION, `the first frame must be Hello, not ${kind}`);
      return this.hello(frame.hello ?? {}, nowMs);
    }
    if (kind === 'register' || kind === 'unregister' || kind === 'subscribe' || kind === 'unsubscribe' || kind === 'rotateCredentials') {
      const due = spend(this.requestDueAt, now, budgets.request);
      if (due < 0) return this.rateLimited('requests (Register, Unregister, Subscribe, Unsubscribe, RotateCredentials)', budgets.request);
      this.requestDueAt = due;
    }
    switch (kind) {
      case 'register': {
        const r = frame.register ?? {};
        // A version 1 device knows nothing of users, whatever unknown field bytes it sent.
        return this.request(r.requestId ?? 0, 'register', r.applicationId ?? '', r.registrationId ?? '', [], nowMs, this.version >= 2 ? (r.deviceUser ?? '') : '', r.registrationSecret ?? '');
      }
      case 'unregister': {
        const r = frame.unregister ?? {};
        return this.request(r.requestId ?? 0, 'unregister', r.applicationId ?? '', r.registrationId ?? '', [], nowMs);
      }
      case 'subscribe': {
        const r = frame.subscribe ?? {};
        return this.request(r.requestId ?? 0, 'subscribe', '', r.registrationId ?? '', r.topics ?? [], nowMs);
      }
      case 'unsubscribe': {
        const r = frame.unsubscribe ?? {};
        return this.request(r.requestId ?? 0, 'unsubscribe', '', r.registrationId ?? '', r.topics ?? [], nowMs);
      }
      case 'ack':
        return this.ack(frame.ack?.messageIds ?? [], nowMs, now);
      case 'ping':
        return this.ping(frame.ping?.nonce ?? 0, now);
      case 'rotateCredentials':
        return this.rotate(frame.rotateCredentials?.requestId ?? 0, nowMs);
      case 'hello':
        return this.fail(DeviceErrorCode.PROTOCOL_VIOLATION, 'Hello was already received on this connection');
      case 'welcome':
      case 'registerResult':
      case 'requestResult':
      case 'notification':
      case 'notifications':
      case 'pong':
      case 'goAway':
      case 'error':
      case 'credentialsRotated':
        return this.fail(DeviceErrorCode.PROTOCOL_VIOLATION, `a device may not send ${kind}`);
      default:
        return assertNever(kind);
    }
  }

  /** The byte stream could not be split or decoded into frames. */
  onFrameError(code: DeviceErrorCode, message: string): Step {
    if (!this.acceptsInput) return NOTHING;
    return this.fail(code, message);
  }

  /** push-core answered a request; unknown correlation ids are ignored (replies may be redelivered). */
  onReply(reply: RegistrationReplyV1): Step {
    if (this.phase !== 'open') return NOTHING;
    const found = this.takePending(reply.correlationId);
    if (!found) return NOTHING;
    return { send: [replyFrame(found.requestId, found.request.op, reply)], effects: [] };
  }

  /** The request could not be published: answer it as unavailable now rather than at its timeout. */
  onRequestFailed(correlationId: string): Step {
    if (this.phase !== 'open') return NOTHING;
    const found = this.takePending(correlationId);
    if (!found) return NOTHING;
    return { send: [requestTimeoutFrame(found.requestId)], effects: [] };
  }

  onTick(nowMs: number): Step {
    const now = sinceEpoch(nowMs, this.context.epochMs);
    if (this.phase === 'awaitingHello') {
      if (now - this.lastActivityAt >= this.settings.helloTimeoutMs) return this.fail(DeviceErrorCode.PROTOCOL_VIOLATION, 'no Hello received in time');
      return NOTHING;
    }
    if (this.phase !== 'open') return NOTHING;
    // A silent peer is most likely gone (no FIN on a dead network): nothing to tell it.
    if (now - this.lastActivityAt >= this.settings.idleTimeoutMs) return this.close('idle timeout');
    const send: FrameInit[] = [];
    if (this.pending) {
      for (const [requestId, request] of this.pending) {
        if (request.deadlineMs <= nowMs) {
          this.pending.delete(requestId);
          send.push(requestTimeoutFrame(requestId));
        }
      }
    }
    const effects: SessionEffect[] = [];
    if (now - this.lastPresenceAt >= this.settings.presenceRefreshMs) {
      this.lastPresenceAt = now;
      effects.push({ type: 'refreshPresence', deviceId: this.id! });
    }
    return send.length === 0 && effects.length === 0 ? NOTHING : { send, effects };
  }

  /**
   * Whether this session takes the delivery (the adapter then writes its Notification frame): only
   * an open session of the addressed device does. A boolean, not a Step: this is the hot path.
   */
  deliver(delivery: DeliveryV1): boolean {
    if (this.phase !== 'open' || delivery.deviceId !== this.id) return false;
    const groups = this.context.groups;
    const id = groups !== undefined ? groups.keyOf(delivery.messageId) : ackKey(delivery.messageId);
    const inGroup = groups !== undefined && groups.continuesRun(id);
    if (this.unacked === null) {
      if (this.unackedOne === null || this.unackedOne === id) {
        this.unackedOne = id;
        return true;
      }
    }
    if (inGroup) {
      if (this.groupSlot < 0) {
        this.groupSince = groups.tenancy;
        this.groupSlot = groups.takeSlot();
      }
      if (groups.record(id, this.groupSlot, this.groupSince)) return true;
    }
    if (this.unacked === null) {
      // add(), not the constructor's iterable: no iterator on this path.
      this.unacked = new Set<number>().add(this.unackedOne!);
      this.unackedOne = null;
    }
    const unacked = this.unacked;
    if (unacked.size >= MAX_UNACKED) {
      // Insertion order: the first is the oldest. Only a device that does not acknowledge gets here.
      for (const oldest of unacked) {
        unacked.delete(oldest);
        break;
      }
    }
    unacked.add(id);
    return true;
  }

  /**
   * The server drains (or sends the device elsewhere): tell the device when to come back. The
   * connection stays readable so that Acks of notifications already written still count; new
   * deliveries are refused (the router keeps them pending for the device's next connection).
   */
  goAway(reconnectDelayMs: number, reason: string): Step {
    if (this.phase === 'awaitingHello') {
      this.phase = 'closing';
      return { send: [{ goAway: { reconnectDelayMs, reason } }], effects: [{ type: 'close', reason }] };
    }
    if (this.phase !== 'open') return NOTHING;
    this.phase = 'draining';
    this.pending = null;
    return { send: [{ goAway: { reconnectDelayMs, reason } }], effects: [{ type: 'linger' }] };
  }

  /** A newer connection of this device arrived on this instance: it owns the route now. */
  replaced(): Step {
    this.holdsRoute = false;
    return this.goAway(REPLACED_RECONNECT_DELAY_MS, 'replaced by a newer connection of this device');
  }

  /** The socket is gone. */
  onClosed(): Step {
    if (this.phase === 'closed') return NOTHING;
    this.phase = 'closed';
    this.pending = null;
    this.unackedOne = null;
    this.unacked = null;
    if (this.groupSlot >= 0) {
      this.context.groups?.release(this.groupSlot);
      this.groupSlot = -1;
    }
    if (!this.holdsRoute || this.id === null) return NOTHING;
    this.holdsRoute = false;
    return { send: [], effects: [{ type: 'released', deviceId: this.id }] };
  }

  private hello(hello: NonNullable<Frame['hello']>, nowMs: number): Step {
    const version = negotiateVersion(hello.minProtocolVersion ?? 0, hello.protocolVersion ?? 0, this.context.versions ?? { min: MIN_PROTOCOL_VERSION, max: PROTOCOL_VERSION });
    if (version === null) {
      const { min, max } = this.context.versions ?? { min: MIN_PROTOCOL_VERSION, max: PROTOCOL_VERSION };
      return this.fail(DeviceErrorCode.UNSUPPORTED_VERSION, `protocol version ${hello.protocolVersion ?? 0} is not supported; this server speaks ${min === max ? min : `${min} to ${max}`}`);
    }
    let issued: { deviceId: string; secret: string } | null = null;
    if (hello.credentials) {
      const deviceId = hello.credentials.deviceId ?? '';
      const secret = hello.credentials.secret ?? '';
      const check = deviceId && secret ? this.context.credentials.verify(deviceId, secret, nowMs) : 'invalid';
      if (check === 'invalid') return this.fail(DeviceErrorCode.UNAUTHENTICATED, 'device credentials are not valid');
      // Near the end of their lifetime, or signed with a retired key: hand out fresh ones.
      if (check === 'renew') issued = this.context.credentials.issue(nowMs, deviceId);
      this.id = deviceId;
    } else {
      if (this.context.sourceLimits?.enroll(this.source, nowMs) === false) {
        return this.fail(DeviceErrorCode.RATE_LIMITED, 'too many new devices from this address: try again later');
      }
      issued = this.context.credentials.issue(nowMs);
      this.id = issued.deviceId;
    }
    this.version = version;
    this.phase = 'open';
    this.holdsRoute = true;
    this.lastPresenceAt = sinceEpoch(nowMs, this.context.epochMs);
    return {
      send: [
        {
          welcome: {
            protocolVersion: version,
            deviceId: this.id,
            credentials: issued,
            heartbeatIntervalMs: this.settings.heartbeatIntervalMs,
          },
        },
      ],
      effects: [{ type: 'authenticated', deviceId: this.id }],
    };
  }

  private request(requestId: number, op: RegistrationOp, applicationId: string, registrationId: string, topics: string[], nowMs: number, deviceUser = '', registrationSecret = ''): Step {
    // request_id 0 is reserved for errors about the connection itself.
    if (requestId === 0) return this.requestError(DeviceErrorCode.INVALID_ARGUMENT, 'request_id must not be 0', 0);
    this.pending ??= new Map();
    if (this.pending.has(requestId)) return this.requestError(DeviceErrorCode.INVALID_ARGUMENT, `request ${requestId} is still in progress`, requestId);
    if (this.pending.size >= this.settings.maxPendingRequests) {
      return this.requestError(DeviceErrorCode.UNAVAILABLE, `too many requests in progress (at most ${this.settings.maxPendingRequests})`, requestId);
    }
    if ((op === 'register' || op === 'unregister') && !applicationId) {
      return this.requestError(DeviceErrorCode.INVALID_ARGUMENT, 'application_id is required', requestId);
    }
    if ((op === 'subscribe' || op === 'unsubscribe') && (!registrationId || topics.length === 0)) {
      return this.requestError(DeviceErrorCode.INVALID_ARGUMENT, 'registration_id and at least one topic are required', requestId);
    }
    // A request failure, not a connection fault: the devices behind one address share it, and a
    // confirmed registration keeps working until the device's next try.
    if (op === 'register' && this.context.sourceLimits?.register(this.source, nowMs) === false) {
      return this.requestError(DeviceErrorCode.RATE_LIMITED, 'too many registrations from this address: try again later', requestId);
    }
    if (registrationSecret.length > MAX_REGISTRATION_SECRET_CHARS) {
      return this.requestError(DeviceErrorCode.INVALID_ARGUMENT, `registration_secret is at most ${MAX_REGISTRATION_SECRET_CHARS} characters`, requestId);
    }
    const parsed = RegistrationRequestedV1.safeParse({
      correlationId: this.context.newCorrelationId(),
      replyTo: this.settings.instanceId,
      deviceId: this.id,
      op,
      applicationId,
      registrationId,
      deviceUser,
      // Hashed here: the secret itself never travels on the bus.
      ...(registrationSecret ? { registrationSecretHash: createHash('sha256').update(registrationSecret, 'utf8').digest('hex') } : {}),
      topics,
      atMs: nowMs,
    });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return this.requestError(DeviceErrorCode.INVALID_ARGUMENT, `${issue.path.join('.')}: ${issue.message}`, requestId);
    }
    this.pending.set(requestId, { correlationId: parsed.data.correlationId, op, deadlineMs: nowMs + this.settings.requestTimeoutMs });
    return { send: [], effects: [{ type: 'publishRegistration', request: parsed.data }] };
  }

  private ack(messageIds: string[], nowMs: number, now: number): Step {
    // Counted in ids: decoding and checking an Ack costs by its ids. An empty one counts one.
    const budget = this.settings.frameBudgets.ack;
    const due = spend(this.ackDueAt, now, budget, messageIds.length > 1 ? Math.min(messageIds.length, MAX_ACK_IDS) : 1);
    if (due < 0) return this.rateLimited('acknowledged message ids', budget);
    this.ackDueAt = due;
    if (messageIds.length === 0) return NOTHING;
    if (messageIds.length > MAX_ACK_IDS) return this.requestError(DeviceErrorCode.INVALID_ARGUMENT, `an Ack carries at most ${MAX_ACK_IDS} message ids`, 0);
    if (messageIds.some((id) => id.length === 0 || id.length > 128)) {
      return this.requestError(DeviceErrorCode.INVALID_ARGUMENT, 'message ids are 1 to 128 characters', 0);
    }
    // Only ids written here and not yet acknowledged; a repeated id is found once.
    const unacked = this.unacked;
    const groups = this.groupSlot >= 0 ? this.context.groups : undefined;
    if (unacked === null && this.unackedOne === null && groups === undefined) return NOTHING;
    let known: string[] | null = null;
    for (const id of messageIds) {
      const key = ackKey(id);
      // Wherever it is remembered (a message written again can be in two places), it goes from all.
      let found = key === this.unackedOne;
      if (found) this.unackedOne = null;
      if (unacked !== null && unacked.delete(key)) found = true;
      if (groups !== undefined && groups.acknowledge(key, this.groupSlot, this.groupSince)) found = true;
      if (found) (known ??= []).push(id);
    }
    if (unacked !== null && unacked.size === 0) this.unacked = null;
    if (known === null) return NOTHING;
    const receipt: DeliveryReceiptV1 = { status: 'delivered', deviceId: this.id!, instanceId: this.settings.instanceId, messageIds: known, atMs: nowMs };
    return { send: [], effects: [{ type: 'publishReceipt', receipt }] };
  }

  private ping(nonce: number, now: number): Step {
    const budget = this.settings.frameBudgets.ping;
    const due = spend(this.pingDueAt, now, budget);
    if (due < 0) return this.rateLimited('Pings', budget);
    this.pingDueAt = due;
    return { send: [{ pong: { nonce } }], effects: [] };
  }

  /** Over a frame budget: a connection fault. Closing makes a flooder pay for a new connection (and its admission). */
  private rateLimited(what: string, budget: FrameBudget): Step {
    return this.fail(DeviceErrorCode.RATE_LIMITED, `too many ${what}: at most ${budget.burst} at once and ${budget.perSecond} a second`);
  }

  /** A fresh secret for the same device id; the old one stays valid until it expires. */
  private rotate(requestId: number, nowMs: number): Step {
    if (requestId === 0) return this.requestError(DeviceErrorCode.INVALID_ARGUMENT, 'request_id must not be 0', 0);
    const credentials = this.context.credentials.issue(nowMs, this.id!);
    return { send: [{ credentialsRotated: { requestId, credentials } }], effects: [] };
  }

  private takePending(correlationId: string): { requestId: number; request: PendingRequest } | null {
    if (!this.pending) return null;
    for (const [requestId, request] of this.pending) {
      if (request.correlationId === correlationId) {
        this.pending.delete(requestId);
        return { requestId, request };
      }
    }
    return null;
  }

  private requestError(code: DeviceErrorCode, message: string, requestId: number): Step {
    return { send: [errorFrame(code, message, requestId)], effects: [] };
  }

  private fail(code: DeviceErrorCode, message: string): Step {
    this.phase = 'closing';
    return { send: [errorFrame(code, message)], effects: [{ type: 'close', reason: message }] };
  }

  private close(reason: string): Step {
    this.phase = 'closing';
    return { send: [], effects: [{ type: 'close', reason }] };
  }
}

/**
 * The highest version both sides speak: the device offers [min, max] (min 0 means max only), the
 * server speaks [server.min, server.max]. Null when the ranges do not meet.
 */
export function negotiateVersion(deviceMin: number, deviceMax: number, server: { min: number; max: number }): number | null {
  const low = Math.max(deviceMin === 0 ? deviceMax : Math.min(deviceMin, deviceMax), server.min);
  const high = Math.min(deviceMax, server.max);
  return high >= low && high > 0 ? high : null;
}

/**
 * Milliseconds since the epoch, as a small integer where it is one: arithmetic on epoch times
 * yields V8 heap numbers even when the result is integral, and one stored in a field makes V8 box
 * that field in every session (16 bytes each).
 */
function sinceEpoch(nowMs: number, epochMs: number): number {
  const t = nowMs - epochMs;
  return t === (t | 0) ? t | 0 : t;
}

/**
 * One GCRA step: the new due time if `cost` units arriving at `now` fit the budget, or -1. Each unit
 * pushes the due time one interval ahead; it may run at most burst × interval ahead of now.
 * Spending never puts it further ahead, so a due time beyond that means the wall clock stepped
 * back: start afresh rather than refuse every connection's frames.
 */
function spend(dueAt: number, now: number, budget: FrameBudget, cost = 1): number {
  const ahead = dueAt - now;
  const next = (ahead <= 0 || ahead > budget.limitMs ? now : dueAt) + cost * budget.intervalMs;
  return next - now > budget.limitMs ? -1 : next;
}

/**
 * A message id's key among a connection's unacknowledged notifications: FNV-1a over its UTF-16
 * code units, cut to 30 bits so that V8 keeps it as a small integer (no allocation). Two ids with
 * one key count as one notification: an Ack names one of them, and it is one receipt; so a device
 * can never get more receipts out of a connection than notifications were written to it (a made-up
 * id that happens to share a key only stands in for the one written, whose delivery then stays
 * open and is sent again). Outstanding ids of a device that acknowledges are one or a few, where a
 * shared key has odds of about 1 in 10^9.
 */
export function ackKey(messageId: string): number {
  let hash = 0x811c9dc5 | 0;
  for (let i = 0; i < messageId.length; i++) hash = Math.imul(hash ^ messageId.charCodeAt(i), 0x01000193);
  return hash & 0x3fffffff;
}

function assertNever(value: never): never {
  throw new Error(`unhandled frame kind ${String(value)}`);
}
