import { timingSafeEqual } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import {
  DomainError,
  ErrorCode,
  isValidInstanceId,
  transportInboxTopic,
  type RegistrationReplyV1,
  type RegistrationRequestedV1,
} from '@borealis/contracts';
import { BusClient, type PublishCause } from '@borealis/messaging';
import { Clock, randomToken } from '@borealis/util';
import { isValidTopicName, MAX_TOPICS_PER_REGISTRATION } from '../domain/topic-name';
import { groupBy } from '../group-by';
import { DeliveryRepository } from '../persistence/delivery.repository';
import { PushDb, type Sql } from '../persistence/push-db';
import { RegistrationRepository, type Registration } from '../persistence/registration.repository';
import { RegistryViewRepository } from '../persistence/registry-view.repository';
import { perRow, StatsRepository } from '../persistence/stats.repository';
import { MAX_LIVE_REGISTRATIONS_PER_DEVICE } from '../push-core.options';

/** 16 random bytes: a registrationId is opaque and unguessable (DESIGN.md §3). */
const REGISTRATION_ID_BYTES = 16;
/** Like `app_` for applications: says what the id is, and no id starts with `-` (a CLI flag). */
const REGISTRATION_ID_PREFIX = 'reg_';

/**
 * Registration requests relayed by transports: Aurora `registrate()`, unregister and topic
 * (un)subscription. Each answer is stored with the request's correlation id in the same
 * transaction as its effect, so a redelivered request gets the same answer and changes nothing.
 */
/** Devices whose registration requests run at the same time (each holds a pooled connection). */
const DEVICES_SIDE_BY_SIDE = 4;

@Injectable()
export class Registrations {
  private readonly logger = new Logger('PushCoreRegistrations');

  constructor(
    private readonly db: PushDb,
    private readonly registry: RegistryViewRepository,
    private readonly registrations: RegistrationRepository,
    private readonly deliveries: DeliveryRepository,
    private readonly stats: StatsRepository,
    private readonly bus: BusClient,
    private readonly clock: Clock,
  ) {}

  /** `causedBy`: the bus batch being handled, when called by its handler (see `PublishOptions`). */
  async handle(batch: readonly RegistrationRequestedV1[], causedBy?: PublishCause): Promise<void> {
    for (const request of batch) {
      if (!isValidInstanceId(request.replyTo)) {
        throw new DomainError(ErrorCode.InvalidArgument, `replyTo "${request.replyTo}" is not a transport instance id`);
      }
    }
    // One transaction per request; a device's requests in order (they build on each other),
    // different devices' side by side: a burst of new devices (a fleet coming online) queued one
    // transaction behind the other, and replies waited for the whole batch (at 15,000 devices most
    // of them timed out in the transport; docs/benchmarks.md, "End to end").
    const replies = new Map<RegistrationRequestedV1, RegistrationReplyV1>();
    const devices = [...groupBy(batch, (r) => r.deviceId).values()];
    const worker = async () => {
      for (let requests = devices.shift(); requests; requests = devices.shift()) {
        for (const request of requests) replies.set(request, await this.db.transaction((sql) => this.answer(sql, request)));
      }
    };
    await Promise.all(Array.from({ length: Math.min(DEVICES_SIDE_BY_SIDE, devices.length) }, worker));
    const answered = batch.map((request) => ({ replyTo: request.replyTo, reply: replies.get(request)! }));
    const byInstance = groupBy(answered, (a) => a.replyTo);
    await Promise.all([...byInstance].map(([instanceId, list]) => this.bus.publishBatch(transportInboxTopic(instanceId), list.map((a) => ({ value: a.reply })), { causedBy })));
  }

  private async answer(sql: Sql, request: RegistrationRequestedV1): Promise<RegistrationReplyV1> {
    const earlier = await this.registrations.findReply(sql, request.deviceId, request.correlationId);
    if (earlier) return earlier;
    const nowMs = this.clock.now();
    const reply = await this.apply(sql, request, nowMs);
    await this.registrations.saveReply(sql, reply, nowMs);
    return reply;
  }

  private async apply(sql: Sql, request: RegistrationRequestedV1, nowMs: number): Promise<RegistrationReplyV1> {
    switch (request.op) {
      case 'register':
        return this.register(sql, request, nowMs);
      case 'unregister':
        return this.unregister(sql, request, nowMs);
      case 'subscribe':
      case 'unsubscribe':
        return this.changeTopics(sql, request, nowMs);
    }
  }

  /** Aurora `registrate()`: confirm the registration the device holds, or issue a new one. */
  private async register(sql: Sql, request: RegistrationRequestedV1, nowMs: number): Promise<RegistrationReplyV1> {
    if (!request.applicationId) return failure(request, ErrorCode.InvalidArgument, 'applicationId is required');
    const application = await this.registry.application(sql, request.applicationId);
    if (!application) return failure(request, ErrorCode.NotFound, 'unknown application');
    if (application.projectActive === undefined) return failure(request, ErrorCode.NotFound, "the application's project is unknown");
    if (!application.isActive) return failure(request, ErrorCode.FailedPrecondition, 'the application is inactive');
    if (!application.projectActive) return failure(request, ErrorCode.FailedPrecondition, "the application's project is inactive");

    if (request.registrationId) {
      const held = await this.registrations.findOfDevice(sql, request.deviceId, request.registrationId);
      // Only the same user's: one user's app cannot take over another's registration on the device.
      if (held?.live && held.applicationId === request.applicationId && held.deviceUser === request.deviceUser) {
        await this.registrations.touch(sql, held.id, nowMs);
        return success(request, held, false);
      }
    }
    // Only a new registration needs the secret: confirming one the device holds creates nothing.
    if (application.registrationSecretHash !== null && !secretMatches(application.registrationSecretHash, request.registrationSecretHash ?? '')) {
      return failure(request, ErrorCode.PermissionDenied, 'this application requires its registration secret');
    }
    const retired = await this.registrations.retireLive(sql, request.deviceId, request.deviceUser, request.applicationId, nowMs);
    // One enrolled device cannot stuff an application through many local users (docs/security.md, finding 5).
    if (retired.length === 0 && (await this.registrations.countLiveOfDevice(sql, request.deviceId)) >= MAX_LIVE_REGISTRATIONS_PER_DEVICE) {
      return failure(request, ErrorCode.FailedPrecondition, `a device holds at most ${MAX_LIVE_REGISTRATIONS_PER_DEVICE} live registrations`);
    }
    await this.stats.bump(sql, perRow(await this.deliveries.failOpenOfRegistrations(sql, retired, nowMs), 'failed', nowMs));
    const registration = {
      id: randomToken(REGISTRATION_ID_BYTES, REGISTRATION_ID_PREFIX),
      projectId: application.projectId,
      applicationId: request.applicationId,
      deviceId: request.deviceId,
      deviceUser: request.deviceUser,
    };
    await this.registrations.create(sql, registration, nowMs, request.atMs);
    this.logger.debug({ msg: 'registration created', deviceId: request.deviceId, applicationId: request.applicationId, projectId: application.projectId, replaced: retired.length });
    return success(request, { ...registration, live: true }, true);
  }

  private async unregister(sql: Sql, request: RegistrationRequestedV1, nowMs: number): Promise<RegistrationReplyV1> {
    const registration = await this.ownRegistration(sql, request);
    if (!registration) return failure(request, ErrorCode.NotFound, 'no such registration on this device');
    if (registration.live) {
      await this.registrations.unregister(sql, registration.id, nowMs);
      await this.stats.bump(sql, perRow(await this.deliveries.failOpenOfRegistrations(sql, [registration.id], nowMs), 'failed', nowMs));
    }
    return success(request, registration, false);
  }

  private async changeTopics(sql: Sql, request: RegistrationRequestedV1, nowMs: number): Promise<RegistrationReplyV1> {
    const registration = await this.ownRegistration(sql, request);
    if (!registration?.live) return failure(request, ErrorCode.NotFound, 'no such live registration on this device');
    const topics = [...new Set(request.topics)];
    if (topics.length === 0) return failure(request, ErrorCode.InvalidArgument, 'no topics given');
    const invalid = topics.find((t) => !isValidTopicName(t));
    if (invalid !== undefined) return failure(request, ErrorCode.InvalidArgument, `invalid topic name "${invalid.slice(0, 64)}"`);

    if (request.op === 'unsubscribe') {
      await this.registrations.unsubscribe(sql, registration.id, topics);
    } else {
      if ((await this.registrations.topicCountWith(sql, registration.id, topics)) > MAX_TOPICS_PER_REGISTRATION) {
        return failure(request, ErrorCode.FailedPrecondition, `a registration holds at most ${MAX_TOPICS_PER_REGISTRATION} topics`);
      }
      await this.registrations.subscribe(sql, registration, topics, nowMs);
    }
    return success(request, registration, false);
  }

  /** The registration named by the request, if it was issued to this device (and this app, if named). */
  private async ownRegistration(sql: Sql, request: RegistrationRequestedV1): Promise<Registration | undefined> {
    if (!request.registrationId) return undefined;
    const registration = await this.registrations.findOfDevice(sql, request.deviceId, request.registrationId);
    if (registration && request.applicationId && registration.applicationId !== request.applicationId) return undefined;
    return registration;
  }
}

/** Compares two SHA-256 hex digests in constant time (the length of a digest is no secret). */
function secretMatches(requiredHash: string, presentedHash: string): boolean {
  const required = Buffer.from(requiredHash, 'hex');
  const presented = Buffer.from(presentedHash, 'hex');
  return presented.length === required.length && timingSafeEqual(presented, required);
}

function success(request: RegistrationRequestedV1, registration: Registration, isNew: boolean): RegistrationReplyV1 {
  return {
    kind: 'registration.reply',
    correlationId: request.correlationId,
    deviceId: request.deviceId,
    op: request.op,
    ok: true,
    applicationId: registration.applicationId,
    registrationId: registration.id,
    isNew,
    errorCode: null,
    errorMessage: null,
  };
}

function failure(request: RegistrationRequestedV1, code: ErrorCode, message: string): RegistrationReplyV1 {
  return {
    kind: 'registration.reply',
    correlationId: request.correlationId,
    deviceId: request.deviceId,
    op: request.op,
    ok: false,
    applicationId: request.applicationId,
    registrationId: '',
    isNew: false,
    errorCode: code,
    errorMessage: message,
  };
}
