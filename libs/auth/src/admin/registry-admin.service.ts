import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { QueryFailedError, type DataSource } from 'typeorm';
import { DomainError, ErrorCode } from '@borealis/contracts';
import { Clock, randomToken } from '@borealis/util';
import { AUTH_OPTIONS, type AuthModuleOptions } from '../auth-options';
import { AUTH_CONNECTION } from '../persistence/database';
import type { ApplicationEntity, ProjectEntity, TenantEntity } from '../persistence/entities';
import { RegistryRepository } from '../persistence/registry.repository';
import { applicationEvent, projectEvent } from '../registry/registry-events';
import { RegistryOutboxRelay } from '../registry/registry-outbox-relay';
import { SERVICE_ACCOUNT_SCOPES } from '../scopes';
import { generateRsaPem } from '../signing/signing-keys';
import {
  applicationView,
  projectDetailView,
  projectView,
  tenantView,
  type ApplicationView,
  type ProjectDetailView,
  type ProjectView,
  type ServiceAccountKeyIssued,
  type TenantView,
} from './views';

/** Unique constraints of the migration, and what their violation means to the operator. */
const CONFLICTS: Record<string, string> = {
  tenants_name_key: 'a tenant with this name exists already',
  projects_tenant_name_key: 'this tenant has a project with this name already',
  applications_project_name_key: 'this project has an application with this name already',
};

/**
 * The operator's registry use cases. Each change and the registry event describing the new state
 * commit in one transaction (the outbox); the relay is kicked after the commit.
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

  async createTenant(name: string): Promise<TenantView> {
    const tenant: TenantEntity = { id: randomUUID(), name, createdAt: this.now() };
    await this.change((repo) => repo.insertTenant(tenant));
    this.logger.log({ msg: 'tenant created', tenantId: tenant.id });
    return tenantView(tenant);
  }

  async createProject(tenantId: string, name: string): Promise<ProjectView> {
    const now = this.now();
    const project: ProjectEntity = { id: randomUUID(), tenantId, name, isActive: true, createdAt: now, updatedAt: now };
    await this.change(async (repo) => {
      if (!(await repo.findTenant(tenantId))) throw notFound('tenant');
      await repo.insertProject(project);
      await repo.appendEvent(projectEvent(project, null), now);
    });
    this.logger.log({ msg: 'project created', tenantId, projectId: project.id });
    return projectView(project);
  }

  async getProject(projectId: string): Promise<ProjectDetailView> {
    const repo = new RegistryRepository(this.dataSource.manager);
    const project = await repo.findProject(projectId);
    if (!project) throw notFound('project');
    const account = await repo.findServiceAccount(projectId);
    return projectDetailView(project, account, account ? await repo.findKeys(projectId) : []);
  }

  async setProjectActive(projectId: string, isActive: boolean): Promise<ProjectView> {
    const project = await this.change(async (repo) => {
      const found = await repo.findProject(projectId, true);
      if (!found) throw notFound('project');
      if (found.isActive === isActive) return found;
      const changed = { ...found, isActive, updatedAt: this.after(found.updatedAt) };
      await repo.updateProject(changed);
      await repo.appendEvent(projectEvent(changed, await repo.findServiceAccount(projectId)), changed.updatedAt);
      return changed;
    });
    this.logger.log({ msg: 'project activation set', projectId, isActive });
    return projectView(project);
  }

  /**
   * Creates the project's service account when it has none, and in any case a new key pair for
   * it. Only the public key is stored: the private key is in this answer and nowhere else.
   */
  async createServiceAccountKey(projectId: string): Promise<ServiceAccountKeyIssued> {
    const { privateKeyPem, publicKeyPem } = await generateRsaPem();
    const kid = randomToken(16);
    const account = await this.change(async (repo) => {
      const project = await repo.findProject(projectId, true);
      if (!project) throw notFound('project');
      const now = this.now();
      let found = await repo.findServiceAccount(projectId);
      if (!found) {
        found = { clientId: randomToken(16), projectId, scopes: [...SERVICE_ACCOUNT_SCOPES], createdAt: now };
        await repo.insertServiceAccount(found);
        // The project's serviceAccount changed: so does its updatedAt, which consumers may order by.
        const changed = { ...project, updatedAt: this.after(project.updatedAt) };
        await repo.updateProject(changed);
        await repo.appendEvent(projectEvent(changed, found), now);
      }
      await repo.insertKey({ kid, clientId: found.clientId, publicKeyPem, createdAt: now, expiresAt: null, revokedAt: null });
      return found;
    });
    this.logger.log({ msg: 'service account key created', projectId, clientId: account.clientId, kid });
    return {
      clientId: account.clientId,
      keyId: kid,
      scopes: account.scopes,
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
          key_id: kid,
        },
      },
    };
  }

  /** Revoked keys authenticate no more token requests; tokens already issued live until they expire. */
  async revokeServiceAccountKey(projectId: string, kid: string): Promise<void> {
    await this.change(async (repo) => {
      const key = (await repo.findKeys(projectId)).find((k) => k.kid === kid);
      if (!key) throw notFound('key');
      if (key.revokedAt === null) await repo.revokeKey(key, this.now());
    });
    this.logger.log({ msg: 'service account key revoked', projectId, kid });
  }

  async createApplication(projectId: string, name: string): Promise<ApplicationView> {
    const now = this.now();
    // 128 random bits: devices present application ids, so they must not be guessable.
    const application: ApplicationEntity = { id: randomToken(16, 'app_'), projectId, name, isActive: true, createdAt: now, updatedAt: now };
    await this.change(async (repo) => {
      if (!(await repo.findProject(projectId))) throw notFound('project');
      await repo.insertApplication(application);
      await repo.appendEvent(applicationEvent(application), now);
    });
    this.logger.log({ msg: 'application created', projectId, applicationId: application.id });
    return applicationView(application);
  }

  async setApplicationActive(projectId: string, applicationId: string, isActive: boolean): Promise<ApplicationView> {
    const application = await this.change(async (repo) => {
      const found = await repo.findApplication(projectId, applicationId, true);
      if (!found) throw notFound('application');
      if (found.isActive === isActive) return found;
      const changed = { ...found, isActive, updatedAt: this.after(found.updatedAt) };
      await repo.updateApplication(changed);
      await repo.appendEvent(applicationEvent(changed), changed.updatedAt);
      return changed;
    });
    this.logger.log({ msg: 'application activation set', projectId, applicationId, isActive });
    return applicationView(application);
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

function notFound(what: 'tenant' | 'project' | 'application' | 'key'): DomainError {
  return new DomainError(ErrorCode.NotFound, `no such ${what}`);
}

/** The constraint a PostgreSQL unique violation (23505) names, if that is what `err` is. */
function uniqueViolation(err: unknown): string | undefined {
  if (!(err instanceof QueryFailedError)) return undefined;
  const driverError = err.driverError as { code?: string; constraint?: string };
  return driverError.code === '23505' ? driverError.constraint : undefined;
}
