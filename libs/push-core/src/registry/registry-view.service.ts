import { Injectable } from '@nestjs/common';
import type { RegistryEventV1 } from '@borealis/contracts';
import { PushDb } from '../persistence/push-db';
import { RegistryViewRepository, type ApplicationView, type ProjectView } from '../persistence/registry-view.repository';

/** Keeps push-core's view of projects and applications from auth's compacted registry topic. */
@Injectable()
export class RegistryView {
  constructor(
    private readonly db: PushDb,
    private readonly repository: RegistryViewRepository,
  ) {}

  async handle(batch: readonly RegistryEventV1[]): Promise<void> {
    const projects = new Map<string, ProjectView>();
    const applications = new Map<string, ApplicationView>();
    for (const event of batch) {
      switch (event.kind) {
        case 'project': {
          const { id, isActive, updatedAtMs } = event.project;
          keepNewest(projects, { id, isActive, updatedAtMs });
          break;
        }
        case 'application': {
          const { id, projectId, isActive, updatedAtMs, registrationSecretHash } = event.application;
          keepNewest(applications, { id, projectId, isActive, updatedAtMs, registrationSecretHash: registrationSecretHash ?? null });
          break;
        }
        case 'service-account-key':
          // Keys matter to the gateway (token acceptance), not to delivery.
          break;
      }
    }
    await this.db.transaction(async (sql) => {
      await this.repository.upsertProjects(sql, [...projects.values()]);
      await this.repository.upsertApplications(sql, [...applications.values()]);
    });
  }
}

/** One row per id per statement (ON CONFLICT cannot touch a row twice); the later event wins ties. */
function keepNewest<T extends { id: string; updatedAtMs: number }>(into: Map<string, T>, entry: T): void {
  const current = into.get(entry.id);
  if (!current || current.updatedAtMs <= entry.updatedAtMs) into.set(entry.id, entry);
}
