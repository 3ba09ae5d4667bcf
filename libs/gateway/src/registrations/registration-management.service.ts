import { Injectable, Logger } from '@nestjs/common';
import { DomainError, ErrorCode, Topics, type RegistrationInfoV1, type RegistrationTopicsV1 } from '@borealis/contracts';
import { BusClient } from '@borealis/messaging';
import { Clock, uuidv7 } from '@borealis/util';
import { isValidTopicName } from '../send/send-request';
import { RegistrationReader } from './registration-reader';

/** How long an unregister waits for push-core to apply it before answering 202. */
const APPLY_WAIT_MS = 3000;
const POLL_MS = 25;

/**
 * App servers look at and unregister their registrations. Every read names the project, so a
 * registration of another project is a 404 exactly like an unknown one. Unregistering publishes
 * the request (durable in Kafka) and reads until push-core applied it.
 */
@Injectable()
export class RegistrationManagementService {
  private readonly logger = new Logger(RegistrationManagementService.name);

  constructor(
    private readonly bus: BusClient,
    private readonly reader: RegistrationReader,
    private readonly clock: Clock,
  ) {}

  async get(projectId: string, registrationId: string): Promise<RegistrationInfoV1> {
    checkRegistrationId(registrationId);
    return found(await this.reader.getRegistration(projectId, registrationId), projectId, registrationId);
  }

  async topics(projectId: string, registrationId: string): Promise<RegistrationTopicsV1> {
    checkRegistrationId(registrationId);
    return found(await this.reader.getTopics(projectId, registrationId), projectId, registrationId);
  }

  /** `applied` false: durable but not applied within a few seconds (push-core busy); it will be. */
  async unregister(projectId: string, registrationId: string, requestId?: string): Promise<{ applied: boolean; registration: RegistrationInfoV1 }> {
    const before = await this.get(projectId, registrationId);
    if (before.unregisteredAt !== null) return { applied: true, registration: before };
    const atMs = this.clock.now();
    try {
      await this.bus.publishBatch(Topics.registrationUnregisterRequested, [{ value: { requestId: uuidv7(atMs), projectId, registrationId, atMs } }]);
    } catch (err) {
      this.logger.warn({ msg: 'unregister request not durable', requestId, projectId, error: String(err) });
      throw new DomainError(ErrorCode.Unavailable, 'the unregister request could not be made durable; retry', { retryAfterSeconds: 1 });
    }
    const deadline = Date.now() + APPLY_WAIT_MS;
    for (;;) {
      const registration = await this.get(projectId, registrationId);
      if (registration.unregisteredAt !== null) return { applied: true, registration };
      if (Date.now() >= deadline) return { applied: false, registration };
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}

/** Registration ids are 1 to 128 characters of the target alphabet (every id Borealis issues is); the path's own checks cover the rest. */
function checkRegistrationId(registrationId: string): void {
  if (registrationId.length > 128 || !isValidTopicName(registrationId)) {
    throw new DomainError(ErrorCode.InvalidArgument, 'invalid registrationId: must be 1 to 128 letters, digits or -_.~%', {
      fields: { registrationId: 'must be 1 to 128 letters, digits or -_.~%' },
    });
  }
}

function found<T>(value: T | null, projectId: string, registrationId: string): T {
  if (value === null) throw new DomainError(ErrorCode.NotFound, `registration ${registrationId} not found in project ${projectId}`);
  return value;
}
