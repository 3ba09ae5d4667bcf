import type { EntityManager } from 'typeorm';
import { RegistryEventV1 } from '@borealis/contracts';
import {
  AccountEntity,
  ApplicationEntity,
  AuditLogEntity,
  InvitationEntity,
  MembershipEntity,
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

  /** Every tenant (the operator's view), or those `accountId` is a member of. */
  listTenants(accountId: string | null): Promise<TenantEntity[]> {
    const query = this.em.createQueryBuilder(TenantEntity, 't').orderBy('t.created_at', 'ASC').addOrderBy('t.id', 'ASC');
    if (accountId !== null) query.innerJoin(MembershipEntity, 'm', 'm.tenant_id = t.id AND m.account_id = :accountId', { accountId });
    return query.getMany();
  }

  listProjects(tenantId: string): Promise<ProjectEntity[]> {
    return this.em.find(ProjectEntity, { where: { tenantId }, order: { createdAt: 'ASC', id: 'ASC' } });
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

  /** One key of the project's service account, locked until the transaction ends. */
  async findKey(projectId: string, kid: string): Promise<ServiceAccountKeyEntity | null> {
    const account = await this.findServiceAccount(projectId);
    if (!account) return null;
    return this.em.findOne(ServiceAccountKeyEntity, { where: { kid, clientId: account.clientId }, lock: { mode: 'pessimistic_write' } });
  }

  async updateKey(key: ServiceAccountKeyEntity): Promise<void> {
    await this.em.update(
      ServiceAccountKeyEntity,
      { kid: key.kid, clientId: key.clientId },
      { revokedAt: key.revokedAt, expiresAt: key.expiresAt, updatedAt: key.updatedAt, expiryPublished: key.expiryPublished },
    );
  }

  /** Keys whose expiry has passed and not been announced yet, locked; other replicas skip them. */
  dueKeyExpiries(now: Date, limit: number): Promise<(ServiceAccountKeyEntity & { projectId: string })[]> {
    return this.em.query(
      `SELECT k.kid, k.client_id AS "clientId", sa.project_id AS "projectId", k.created_at AS "createdAt", k.updated_at AS "updatedAt",
              k.expires_at AS "expiresAt", k.revoked_at AS "revokedAt", k.origin, k.expiry_published AS "expiryPublished", k.public_key_pem AS "publicKeyPem"
         FROM service_account_keys k JOIN service_accounts sa ON sa.client_id = k.client_id
        WHERE NOT k.expiry_published AND k.expires_at IS NOT NULL AND k.expires_at <= $1
        ORDER BY k.expires_at
        LIMIT $2
        FOR UPDATE OF k SKIP LOCKED`,
      [now, limit],
    );
  }

  listApplications(projectId: string): Promise<ApplicationEntity[]> {
    return this.em.find(ApplicationEntity, { where: { projectId }, order: { createdAt: 'ASC', id: 'ASC' } });
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
      { isActive: application.isActive, registrationSecretHash: application.registrationSecretHash, updatedAt: application.updatedAt },
    );
  }

  async insertMembership(membership: MembershipEntity): Promise<void> {
    await this.em.insert(MembershipEntity, membership);
  }

  /** With `forUpdate`, locked until the transaction ends. */
  findMembership(tenantId: string, accountId: string, forUpdate = false): Promise<MembershipEntity | null> {
    return this.em.findOne(MembershipEntity, { where: { tenantId, accountId }, ...(forUpdate ? { lock: { mode: 'pessimistic_write' as const } } : {}) });
  }

  listMembers(tenantId: string): Promise<(MembershipEntity & { email: string })[]> {
    return this.em.query(
      `SELECT m.tenant_id AS "tenantId", m.account_id AS "accountId", m.role, m.created_at AS "createdAt", a.email
         FROM memberships m JOIN accounts a ON a.id = m.account_id
        WHERE m.tenant_id = $1 ORDER BY m.created_at, m.account_id`,
      [tenantId],
    );
  }

  async updateMembership(membership: MembershipEntity): Promise<void> {
    await this.em.update(MembershipEntity, { tenantId: membership.tenantId, accountId: membership.accountId }, { role: membership.role });
  }

  async deleteMembership(tenantId: string, accountId: string): Promise<void> {
    await this.em.delete(MembershipEntity, { tenantId, accountId });
  }

  /** Locks the tenant's owners, so that two changes cannot both remove "the other" last owner. */
  async countOwners(tenantId: string): Promise<number> {
    const rows: unknown[] = await this.em.query(`SELECT 1 FROM memberships WHERE tenant_id = $1 AND role = 'owner' FOR UPDATE`, [tenantId]);
    return rows.length;
  }

  findAccount(accountId: string): Promise<AccountEntity | null> {
    return this.em.findOneBy(AccountEntity, { id: accountId });
  }

  async insertInvitation(invitation: InvitationEntity): Promise<void> {
    await this.em.insert(InvitationEntity, invitation);
  }

  listInvitations(tenantId: string): Promise<InvitationEntity[]> {
    return this.em.find(InvitationEntity, { where: { tenantId }, order: { createdAt: 'ASC', id: 'ASC' } });
  }

  findInvitation(tenantId: string, invitationId: string): Promise<InvitationEntity | null> {
    return this.em.findOne(InvitationEntity, { where: { tenantId, id: invitationId }, lock: { mode: 'pessimistic_write' } });
  }

  /** The invitation a token names, whatever its tenant: presenting the token is what names the tenant. */
  findInvitationByTokenHash(tokenHash: string): Promise<InvitationEntity | null> {
    return this.em.findOne(InvitationEntity, { where: { tokenHash }, lock: { mode: 'pessimistic_write' } });
  }

  async updateInvitation(invitation: InvitationEntity): Promise<void> {
    await this.em.update(
      InvitationEntity,
      { id: invitation.id, tenantId: invitation.tenantId },
      { acceptedAt: invitation.acceptedAt, acceptedBy: invitation.acceptedBy, revokedAt: invitation.revokedAt },
    );
  }

  async appendAudit(entry: Omit<AuditLogEntity, 'seq'>): Promise<void> {
    // A jsonb column typed as a record is beyond TypeORM's deep-partial type.
    await this.em.insert(AuditLogEntity, entry as never);
  }

  /** The tenant's audit log, newest first, from before `beforeSeq` when paging. */
  readAudit(tenantId: string, limit: number, beforeSeq?: string): Promise<AuditLogEntity[]> {
    const query = this.em.createQueryBuilder(AuditLogEntity, 'a').where('a.tenant_id = :tenantId', { tenantId });
    if (beforeSeq !== undefined) query.andWhere('a.seq < :beforeSeq', { beforeSeq });
    return query.orderBy('a.seq', 'DESC').limit(limit).getMany();
  }

  /** Queues a registry event; it commits or rolls back with the change it describes. */
  async appendEvent(event: RegistryEventV1, at: Date): Promise<void> {
    // Validated here, so that a bad event fails the change instead of blocking the relay.
    await this.em.insert(RegistryOutboxEntity, { payload: RegistryEventV1.parse(event), createdAt: at, publishedAt: null });
  }
}
