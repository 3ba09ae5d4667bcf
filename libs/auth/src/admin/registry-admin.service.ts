import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash, createPublicKey, randomUUID } from 'node:crypto';
import { QueryFailedError, type DataSource } from 'typeorm';
import { DomainError, ErrorCode } from '@borealis/contracts';
import { Clock, randomToken } from '@borealis/util';
import { actorName, type Actor } from '../access/access';
import { AUTH_OPTIONS, type AuthModuleOptions } from '../auth-options';
import { AUTH_CONNECTION } from '../persistence/database';
import type { ApplicationEntity, ProjectEntity, ServiceAccountEntity, ServiceAccountKeyEntity, TenantEntity } from '../persistence/entities';
import { RegistryRepository } from '../persistence/registry.repository';
import { applicationEvent, keyEvent, projectEvent } from '../registry/registry-events';
import { RegistryOutboxRelay } from '../registry/registry-outbox-relay';
import { SERVICE_ACCOUNT_SCOPES } from '../scopes';
import { generateRsaPem } from '../signing/signing-keys';
import {
  applicationView,
  keyView,
  projectDetailView,
  projectView,
  tenantView,
  type ApplicationView,
  type ServiceAccountKeyView,
  type ProjectDetailView,
  type ProjectView,
  type ServiceAccountKeyIssued,
  type TenantView,
} from './views';

/** Unique constraints of the migration, and what their violation means to the operator. */
/** Says what the value is (secret scanners too), as `app_` does for application ids. */
const REGISTRATION_SECRET_PREFIX = 'brs_';

const CONFLICTS: Record<string, string> = {
  tenants_name_key: 'a tenant with this name exists already',
  projects_tenant_name_key: 'this tenant has a project with this name already',
  applications_project_name_key: 'this project has an application with this name already',
};

/**
 * The registry use cases of the management API. Each change, the registry event describing the new
 * state (the outbox) and its audit entry commit in one transaction; the relay is kicked after the
 * commit. Callers have passed the access guard: the actor may act on the tenant or project named.
 */
@Injectable()
export class RegistryAdmin {
  private readonly logger = new Logger(RegistryAdmin.name);

  constructor(
    @InjectDataSource(AUTH_CONNECTION) private readonly dataSource: DataSource,
    private readonly relay: RegistryOutboxRelay,
    private readonly clock: Clock,
    @Inject(AUTH_OPTIONS) private readonly options: AuthModuleOptions,
  ) {}

  /** An account that creates a tenant becomes its owner; the operator's tenants start with no members. */
  async createTenant(actor: Actor, name: string): Promise<TenantView> {
    const tenant: TenantEntity = { id: randomUUID(), name, createdAt: this.now() };
    await this.change(async (repo) => {
      await repo.insertTenant(tenant);
      if (actor.kind === 'account') await repo.insertMembership({ tenantId: tenant.id, accountId: actor.accountId, role: 'owner', createdAt: tenant.createdAt });
      await this.audit(repo, actor, tenant.id, 'tenant.create', 'tenant', tenant.id, { name });
    });
    this.logger.log({ msg: 'tenant created', tenantId: tenant.id });
    return tenantView(tenant);
  }

  async listTenants(actor: Actor): Promise<TenantView[]> {
    const tenants = await this.repo().listTenants(actor.kind === 'operator' ? null : actor.accountId);
    return tenants.map(tenantView);
  }

  async getTenant(tenantId: string): Promise<TenantView> {
    const tenant = await this.repo().findTenant(tenantId);
    if (!tenant) throw notFound('tenant');
    return tenantView(tenant);
  }

  async createProject(actor: Actor, tenantId: string, name: string): Promise<ProjectView> {
    const now = this.now();
    const project: ProjectEntity = { id: randomUUID(), tenantId, name, isActive: true, createdAt: now, updatedAt: now };
    await this.change(async (repo) => {
      if (!(await repo.findTenant(tenantId))) throw notFound('tenant');
      await repo.insertProject(project);
      await repo.appendEvent(projectEvent(project, null), now);
      await this.audit(repo, actor, tenantId, 'project.create', 'project', project.id, { name });
    });
    this.logger.log({ msg: 'project created', tenantId, projectId: project.id });
    return projectView(project);
  }

  async listProjects(tenantId: string): Promise<ProjectView[]> {
    return (await this.repo().listProjects(tenantId)).map(projectView);
  }

  async getProject(projectId: string): Promise<ProjectDetailView> {
    const repo = this.repo();
    const project = await repo.findProject(projectId);
    if (!project) throw notFound('project');
    const account = await repo.findServiceAccount(projectId);
    return projectDetailView(project, account, account ? await repo.findKeys(projectId) : []);
  }

  async setProjectActive(actor: Actor, projectId: string, isActive: boolean): Promise<ProjectView> {
    const project = await this.change(async (repo) => {
      const found = await repo.findProject(projectId, true);
      if (!found) throw notFound('project');
      if (found.isActive === isActive) return found;
      const changed = { ...found, isActive, updatedAt: this.after(found.updatedAt) };
      await repo.updateProject(changed);
      await repo.appendEvent(projectEvent(changed, await repo.findServiceAccount(projectId)), changed.updatedAt);
      await this.audit(repo, actor, found.tenantId, isActive ? 'project.activate' : 'project.deactivate', 'project', projectId, {});
      return changed;
    });
    this.logger.log({ msg: 'project activation set', projectId, isActive });
    return projectView(project);
  }

  /**
   * A new key pair for the project's service account (created on first use). Only the public key
   * is stored: the private key is in this answer, inside the settings file, and nowhere else.
   */
  async createServiceAccountKey(actor: Actor, projectId: string, expiresAt?: Date): Promise<ServiceAccountKeyIssued> {
    const { privateKeyPem, publicKeyPem } = await generateRsaPem();
    const { account, key } = await this.addKey(actor, projectId, publicKeyPem, 'generated', expiresAt);
    return {
      clientId: account.clientId,
      keyId: key.kid,
      scopes: account.scopes,
      expiresAt: key.expiresAt?.toISOString() ?? null,
      settings: {
        push_notification_system: {
          project_id: projectId,
          push_public_address: this.options.pushPublicAddress,
          api_url: this.options.publicApiUrl,
          client_id: account.clientId,
          scopes: account.scopes.join(' '),
          audience: this.options.audiences[0]!,
          token_url: this.options.tokenUrl,
          private_key: privateKeyPem,
          key_id: key.kid,
        },
      },
    };
  }

  /** Registers a public key whose private half never left the developer's machine. */
  async uploadServiceAccountKey(actor: Actor, projectId: string, pem: string, expiresAt?: Date): Promise<ServiceAccountKeyView & { clientId: string }> {
    const { account, key } = await this.addKey(actor, projectId, normalizeRsaPublicKey(pem), 'uploaded', expiresAt);
    return { clientId: account.clientId, ...keyView(key) };
  }

  async listServiceAccountKeys(projectId: string): Promise<ServiceAccountKeyView[]> {
    const repo = this.repo();
    if (!(await repo.findProject(projectId))) throw notFound('project');
    return (await repo.findKeys(projectId)).map(keyView);
  }

  /** Revoked keys authenticate no more token requests; resource servers drop their tokens on the key event. */
  async revokeServiceAccountKey(actor: Actor, projectId: string, kid: string): Promise<void> {
    await this.change(async (repo) => {
      const [project, key] = [await repo.findProject(projectId), await repo.findKey(projectId, kid)];
      if (!project || !key) throw notFound('key');
      if (key.revokedAt !== null) return;
      const now = this.now();
      const changed = { ...key, revokedAt: now, updatedAt: this.after(key.updatedAt) };
      await repo.updateKey(changed);
      await repo.appendEvent(keyEvent(changed, projectId), now);
      await this.audit(repo, actor, project.tenantId, 'key.revoke', 'service-account-key', kid, { projectId });
    });
    this.logger.log({ msg: 'service account key revoked', projectId, kid });
  }

  /**
   * Sets when a key expires: now (or a past instant) expires it at once; a later instant schedules
   * it. An expired or revoked key stays so.
   */
  async expireServiceAccountKey(actor: Actor, projectId: string, kid: string, expiresAt: Date): Promise<ServiceAccountKeyView> {
    const key = await this.change(async (repo) => {
      const [project, found] = [await repo.findProject(projectId), await repo.findKey(projectId, kid)];
      if (!project || !found) throw notFound('key');
      const now = this.now();
      if (found.revokedAt !== null || (found.expiresAt !== null && found.expiresAt <= now)) {
        throw new DomainError(ErrorCode.FailedPrecondition, 'the key is revoked or expired already');
      }
      const at = new Date(Math.max(expiresAt.getTime(), now.getTime()));
      const due = at <= now;
      const changed = { ...found, expiresAt: at, expiryPublished: due, updatedAt: this.after(found.updatedAt) };
      await repo.updateKey(changed);
      await repo.appendEvent(keyEvent(changed, projectId), now);
      await this.audit(repo, actor, project.tenantId, 'key.expire', 'service-account-key', kid, { projectId, expiresAt: at.toISOString() });
      return changed;
    });
    this.logger.log({ msg: 'service account key expiry set', projectId, kid, expiresAt: key.expiresAt });
    return keyView(key);
  }

  /** Announces keys whose expiry time has come (one event each); returns how many. */
  async announceDueKeyExpiries(): Promise<number> {
    return this.change(async (repo) => {
      const due = await repo.dueKeyExpiries(this.now(), 100);
      for (const { projectId, ...key } of due) {
        const changed = { ...key, expiryPublished: true, updatedAt: new Date(Math.max(key.updatedAt.getTime(), key.expiresAt!.getTime())) };
        await repo.updateKey(changed);
        await repo.appendEvent(keyEvent(changed, projectId), changed.updatedAt);
      }
      return due.length;
    });
  }

  async createApplication(actor: Actor, projectId: string, name: string): Promise<ApplicationView> {
    const now = this.now();
    // 128 random bits: devices present application ids, so they must not be guessable.
    const application: ApplicationEntity = { id: randomToken(16, 'app_'), projectId, name, isActive: true, registrationSecretHash: null, createdAt: now, updatedAt: now };
    await this.change(async (repo) => {
      const project = await repo.findProject(projectId);
      if (!project) throw notFound('project');
      await repo.insertApplication(application);
      await repo.appendEvent(applicationEvent(application), now);
      await this.audit(repo, actor, project.tenantId, 'application.create', 'application', application.id, { projectId, name });
    });
    this.logger.log({ msg: 'application created', projectId, applicationId: application.id });
    return applicationView(application);
  }

  async listApplications(projectId: string): Promise<ApplicationView[]> {
    const repo = this.repo();
    if (!(await repo.findProject(projectId))) throw notFound('project');
    return (await repo.listApplications(projectId)).map(applicationView);
  }

  async setApplicationActive(actor: Actor, projectId: string, applicationId: string, isActive: boolean): Promise<ApplicationView> {
    const application = await this.change(async (repo) => {
      const [project, found] = [await repo.findProject(projectId), await repo.findApplication(projectId, applicationId, true)];
      if (!project || !found) throw notFound('application');
      if (found.isActive === isActive) return found;
      const changed = { ...found, isActive, updatedAt: this.after(found.updatedAt) };
      await repo.updateApplication(changed);
      await repo.appendEvent(applicationEvent(changed), changed.updatedAt);
      await this.audit(repo, actor, project.tenantId, isActive ? 'application.activate' : 'application.deactivate', 'application', applicationId, { projectId });
      return changed;
    });
    this.logger.log({ msg: 'application activation set', projectId, applicationId, isActive });
    return applicationView(application);
  }

  /**
   * Requires a registration secret of the devices that register with the application from now on
   * (a new one replaces the old), or with `issue` false no longer. The secret is returned once;
   * only its SHA-256 is kept and published. Registrations made before stay.
   */
  async setRegistrationSecret(actor: Actor, projectId: string, applicationId: string, issue: boolean): Promise<ApplicationView & { registrationSecret?: string }> {
    const secret = issue ? randomToken(32, REGISTRATION_SECRET_PREFIX) : null;
    const application = await this.change(async (repo) => {
      const [project, found] = [await repo.findProject(projectId), await repo.findApplication(projectId, applicationId, true)];
      if (!project || !found) throw notFound('application');
      if (secret === null && found.registrationSecretHash === null) return found;
      const changed = { ...found, registrationSecretHash: secret === null ? null : createHash('sha256').update(secret, 'utf8').digest('hex'), updatedAt: this.after(found.updatedAt) };
      await repo.updateApplication(changed);
      await repo.appendEvent(applicationEvent(changed), changed.updatedAt);
      await this.audit(repo, actor, project.tenantId, secret ? 'application.registration-secret.issue' : 'application.registration-secret.remove', 'application', applicationId, { projectId });
      return changed;
    });
    this.logger.log({ msg: secret ? 'application registration secret issued' : 'application registration secret removed', projectId, applicationId });
    return { ...applicationView(application), ...(secret ? { registrationSecret: secret } : {}) };
  }

  private async addKey(
    actor: Actor,
    projectId: string,
    publicKeyPem: string,
    origin: 'generated' | 'uploaded',
    expiresAt: Date | undefined,
  ): Promise<{ account: ServiceAccountEntity; key: ServiceAccountKeyEntity }> {
    const now = this.now();
    if (expiresAt !== undefined && expiresAt <= now) throw new DomainError(ErrorCode.InvalidArgument, 'expiresAt must be in the future', { fields: { expiresAt: 'in the past' } });
    const key: ServiceAccountKeyEntity = {
      kid: randomToken(16),
      clientId: '',
      publicKeyPem,
      createdAt: now,
      updatedAt: now,
      expiresAt: expiresAt ?? null,
      revokedAt: null,
      origin,
      expiryPublished: false,
    };
    const account = await this.change(async (repo) => {
      const project = await repo.findProject(projectId, true);
      if (!project) throw notFound('project');
      let found = await repo.findServiceAccount(projectId);
      if (!found) {
        found = { clientId: randomToken(16), projectId, scopes: [...SERVICE_ACCOUNT_SCOPES], createdAt: now };
        await repo.insertServiceAccount(found);
        // The project's serviceAccount changed: so does its updatedAt, which consumers may order by.
        const changed = { ...project, updatedAt: this.after(project.updatedAt) };
        await repo.updateProject(changed);
        await repo.appendEvent(projectEvent(changed, found), now);
      }
      key.clientId = found.clientId;
      await repo.insertKey(key);
      await repo.appendEvent(keyEvent(key, projectId), now);
      await this.audit(repo, actor, project.tenantId, origin === 'generated' ? 'key.generate' : 'key.upload', 'service-account-key', key.kid, {
        projectId,
        expiresAt: key.expiresAt?.toISOString() ?? null,
      });
      return found;
    });
    this.logger.log({ msg: 'service account key added', projectId, clientId: account.clientId, kid: key.kid, origin });
    return { account, key };
  }

  private audit(repo: RegistryRepository, actor: Actor, tenantId: string, action: string, entityType: string, entityId: string, details: Record<string, unknown>) {
    return repo.appendAudit({ tenantId, actor: actorName(actor), action, entityType, entityId, details, at: this.now() });
  }

  private repo(): RegistryRepository {
    return new RegistryRepository(this.dataSource.manager);
  }

  private async change<T>(work: (repo: RegistryRepository) => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await this.dataSource.transaction((em) => work(new RegistryRepository(em)));
    } catch (err) {
      const constraint = uniqueViolation(err);
      if (constraint && CONFLICTS[constraint]) throw new DomainError(ErrorCode.Conflict, CONFLICTS[constraint], { fields: { name: CONFLICTS[constraint] } });
      throw err;
    }
    this.relay.kick();
    return result;
  }

  private now(): Date {
    return new Date(this.clock.now());
  }

  /** Now, but never before `previous`: an entity's updatedAt never goes back, even if the clock does. */
  private after(previous: Date): Date {
    return new Date(Math.max(this.clock.now(), previous.getTime()));
  }
}

/** An uploaded key as SPKI PEM, if it is an RSA public key of at least 2048 bits. */
function normalizeRsaPublicKey(pem: string): string {
  let details: { type: string; bits: number | undefined; pem: string };
  try {
    const key = createPublicKey(pem);
    details = { type: key.asymmetricKeyType ?? '', bits: key.asymmetricKeyDetails?.modulusLength, pem: key.export({ type: 'spki', format: 'pem' }).toString() };
  } catch {
    throw new DomainError(ErrorCode.InvalidArgument, 'publicKeyPem is not a PEM public key', { fields: { publicKeyPem: 'not a PEM public key' } });
  }
  if (details.type !== 'rsa' || (details.bits ?? 0) < 2048) {
    throw new DomainError(ErrorCode.InvalidArgument, 'assertions are RS256: upload an RSA public key of at least 2048 bits', {
      fields: { publicKeyPem: 'must be RSA, 2048 bits or more' },
    });
  }
  return details.pem;
}

export function notFound(what: 'tenant' | 'project' | 'application' | 'key' | 'member' | 'invitation'): DomainError {
  return new DomainError(ErrorCode.NotFound, `no such ${what}`);
}

/** The constraint a PostgreSQL unique violation (23505) names, if that is what `err` is. */
function uniqueViolation(err: unknown): string | undefined {
  if (!(err instanceof QueryFailedError)) return undefined;
  const driverError = err.driverError as { code?: string; constraint?: string };
  return driverError.code === '23505' ? driverError.constraint : undefined;
}
