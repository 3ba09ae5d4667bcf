import { Injectable } from '@nestjs/common';
import type { RegistrationCountsV1, RegistrationInfoV1, RegistrationTopicsV1 } from '@borealis/contracts';
import { PresenceStore } from '@borealis/keyvalue';
import { MAX_TOPICS_PER_REGISTRATION } from '../domain/topic-name';
import { PushDb } from '../persistence/push-db';
import { RegistrationRepository } from '../persistence/registration.repository';

/** Topics listed in a registration's description; the topics endpoint lists them all. */
export const TOPICS_IN_DESCRIPTION = 100;

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * A registration as its project's app server sees it (in process, or over the internal API).
 * Always by project: a registration of another project is null, exactly like an unknown one.
 * The device id stays inside: a device belongs to no tenant.
 */
@Injectable()
export class RegistrationQuery {
  constructor(
    private readonly db: PushDb,
    private readonly registrations: RegistrationRepository,
    private readonly presence: PresenceStore,
  ) {}

  async getRegistration(projectId: string, registrationId: string): Promise<RegistrationInfoV1 | null> {
    const found = await this.registrations.findInProject(this.db.sql, projectId, registrationId);
    if (!found) return null;
    const [topics, routes] = await Promise.all([
      this.registrations.topicsOf(this.db.sql, found.id, TOPICS_IN_DESCRIPTION),
      found.unregisteredAtMs === null ? this.presence.lookup([found.deviceId]) : Promise.resolve(new Map<string, string>()),
    ]);
    return {
      registrationId: found.id,
      projectId: found.projectId,
      applicationId: found.applicationId,
      createdAt: iso(found.createdAtMs),
      lastSeenAt: iso(found.lastSeenAtMs),
      unregisteredAt: found.unregisteredAtMs === null ? null : iso(found.unregisteredAtMs),
      online: routes.has(found.deviceId),
      topicCount: topics.total,
      topics: topics.topics.map((t) => t.topic),
    };
  }

  /** How many live registrations each application of the project has (the console's application list). */
  async registrationCounts(projectId: string): Promise<RegistrationCountsV1> {
    return { applications: await this.registrations.countLiveByApplication(this.db.sql, projectId) };
  }

  /** Which of these ids are live registrations of this project (a multicast's recipients). */
  async liveOf(projectId: string, registrationIds: readonly string[]): Promise<Set<string>> {
    return new Set(await this.registrations.liveInProject(this.db.sql, projectId, registrationIds));
  }

  async getTopics(projectId: string, registrationId: string): Promise<RegistrationTopicsV1 | null> {
    const found = await this.registrations.findInProject(this.db.sql, projectId, registrationId);
    if (!found) return null;
    const { topics } = await this.registrations.topicsOf(this.db.sql, found.id, MAX_TOPICS_PER_REGISTRATION);
    return { registrationId: found.id, projectId: found.projectId, topics: topics.map((t) => ({ topic: t.topic, subscribedAt: iso(t.createdAtMs) })) };
  }
}
