import type { EntityManager } from 'typeorm';
import { RegistryEventV1 } from '@borealis/contracts';
import {
  ApplicationEntity,
  ProjectEntity,
  RegistryOutboxEntity,
  ServiceAccountEntity,
  ServiceAccountKeyEntity,
  TenantEntity,
} from './entities';

/**
 * The registry's queries within one transaction (the EntityManager's). Every query for tenant data
 * names the tenant or project it belongs to; there is no way to reach a project's accounts, keys or
 * applications without its id.
 */
export class RegistryRepository {
  constructor(private readonly em: EntityManager) {}

  async insertTenant(tenant: TenantEntity): Promise<void> {
    await this.em.insert(TenantEntity, tenant);
  }

  findTenant(tenantId: string): Promise<TenantEntity | null> {
    return this.em.findOneBy(TenantEntity, { id: tenantId });
  }

  async insertProject(project: ProjectEntity): Promise<void> {
    await this.em.insert(ProjectEntity, project);
  }

  /**
   * With `forUpdate` the row stays locked until the transaction ends: changes to one project
   * serialize, so their outbox rows are numbered in the order the changes commit.
   */
  findProject(projectId: string, forUpdate = false): Promise<ProjectEntity | null> {
    return this.em.findOne(ProjectEntity, { where: { id: projectId }, ...(forUpdate ? { lock: { mode: 'pessimistic_write' as const } } : {}) });
  }

  async updateProject(project: ProjectEntity): Promise<void> {
    await this.em.update(ProjectEntity, { id: project.id }, { isActive: project.isActive, updatedAt: project.updatedAt });
  }

  findServiceAccount(projectId: string): Promise<ServiceAccountEntity | null> {
    return this.em.findOneBy(ServiceAccountEntity, { projectId });
  }

  async insertServiceAccount(account: ServiceAccountEntity): Promise<void> {
    await this.em.insert(ServiceAccountEntity, account);
  }

  async insertKey(key: ServiceAccountKeyEntity): Promise<void> {
    await this.em.insert(ServiceAccountKeyEntity, key);
  }

  /** The keys of the project's service account, oldest first. */
  findKeys(projectId: string): Promise<ServiceAccountKeyEntity[]> {
    return this.em
      .createQueryBuilder(ServiceAccountKeyEntity, 'k')
      .innerJoin(ServiceAccountEntity, 'sa', 'sa.client_id = k.client_id')
      .where('sa.project_id = :projectId', { projectId })
      .orderBy('k.created_at', 'ASC')
      .addOrderBy('k.kid', 'ASC')
      .getMany();
  }

  async revokeKey(key: ServiceAccountKeyEntity, at: Date): Promise<void> {
    await this.em.update(ServiceAccountKeyEntity, { kid: key.kid, clientId: key.clientId }, { revokedAt: at });
  }

  async insertApplication(application: ApplicationEntity): Promise<void> {
    await this.em.insert(ApplicationEntity, application);
  }

  /** With `forUpdate`, locked until the transaction ends (see `findProject`). */
  findApplication(projectId: string, applicationId: string, forUpdate = false): Promise<ApplicationEntity | null> {
    return this.em.findOne(ApplicationEntity, {
      where: { id: applicationId, projectId },
      ...(forUpdate ? { lock: { mode: 'pessimistic_write' as const } } : {}),
    });
  }

  async updateApplication(application: ApplicationEntity): Promise<void> {
    await this.em.update(
      ApplicationEntity,
      { id: application.id, projectId: application.projectId },
      { isActive: application.isActive, updatedAt: application.updatedAt },
    );
  }

  /** Queues a registry event; it commits or rolls back with the change it describes. */
  async appendEvent(event: RegistryEventV1, at: Date): Promise<void> {
    // Validated here, so that a bad event fails the change instead of blocking the relay.
    await this.em.insert(RegistryOutboxEntity, { payload: RegistryEventV1.parse(event), createdAt: at, publishedAt: null });
  }
}
