import type { RegistryEventV1 } from '@borealis/contracts';
import type { ApplicationEntity, ProjectEntity, ServiceAccountEntity, ServiceAccountKeyEntity } from '../persistence/entities';

/** The full current state of a project, as the registry topic carries it. */
export function projectEvent(project: ProjectEntity, account: ServiceAccountEntity | null): RegistryEventV1 {
  return {
    kind: 'project',
    project: {
      id: project.id,
      tenantId: project.tenantId,
      name: project.name,
      isActive: project.isActive,
      serviceAccount: account && { clientId: account.clientId, createdAtMs: account.createdAt.getTime() },
      createdAtMs: project.createdAt.getTime(),
      updatedAtMs: project.updatedAt.getTime(),
    },
  };
}

export function applicationEvent(application: ApplicationEntity): RegistryEventV1 {
  return {
    kind: 'application',
    application: {
      id: application.id,
      projectId: application.projectId,
      name: application.name,
      isActive: application.isActive,
      registrationSecretHash: application.registrationSecretHash,
      createdAtMs: application.createdAt.getTime(),
      updatedAtMs: application.updatedAt.getTime(),
    },
  };
}

export function keyEvent(key: ServiceAccountKeyEntity, projectId: string): RegistryEventV1 {
  return {
    kind: 'service-account-key',
    key: {
      id: key.kid,
      clientId: key.clientId,
      projectId,
      revokedAtMs: key.revokedAt?.getTime() ?? null,
      expiresAtMs: key.expiresAt?.getTime() ?? null,
      createdAtMs: key.createdAt.getTime(),
      updatedAtMs: key.updatedAt.getTime(),
    },
  };
}
