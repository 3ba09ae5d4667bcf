import type { ApplicationEntity, ProjectEntity, ServiceAccountEntity, ServiceAccountKeyEntity, TenantEntity } from '../persistence/entities';

/** The admin API's JSON shapes. Times are RFC 3339. */

export interface TenantView {
  id: string;
  name: string;
  createdAt: string;
}

export interface ProjectView {
  id: string;
  tenantId: string;
  name: string;
  isActive: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface ServiceAccountKeyView {
  keyId: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

export interface ProjectDetailView extends ProjectView {
  serviceAccount: { clientId: string; scopes: string[]; createdAt: string; keys: ServiceAccountKeyView[] } | null;
}

export interface ApplicationView {
  id: string;
  projectId: string;
  name: string;
  isActive: boolean;
  createdAt: string;
  updatedAt: string;
}

/** The Aurora project settings file (YAML root key `push_notification_system`), as JSON. */
export interface ProjectSettings {
  push_notification_system: {
    project_id: string;
    push_public_address: string;
    api_url: string;
    client_id: string;
    scopes: string;
    audience: string;
    token_url: string;
    private_key: string;
    key_id: string;
  };
}

export interface ServiceAccountKeyIssued {
  clientId: string;
  keyId: string;
  scopes: string[];
  settings: ProjectSettings;
}

export function tenantView(t: TenantEntity): TenantView {
  return { id: t.id, name: t.name, createdAt: t.createdAt.toISOString() };
}

export function projectView(p: ProjectEntity): ProjectView {
  return {
    id: p.id,
    tenantId: p.tenantId,
    name: p.name,
    isActive: p.isActive,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  };
}

export function projectDetailView(p: ProjectEntity, account: ServiceAccountEntity | null, keys: ServiceAccountKeyEntity[]): ProjectDetailView {
  return {
    ...projectView(p),
    serviceAccount: account && {
      clientId: account.clientId,
      scopes: account.scopes,
      createdAt: account.createdAt.toISOString(),
      keys: keys.map((k) => ({
        keyId: k.kid,
        createdAt: k.createdAt.toISOString(),
        expiresAt: k.expiresAt?.toISOString() ?? null,
        revokedAt: k.revokedAt?.toISOString() ?? null,
      })),
    },
  };
}

export function applicationView(a: ApplicationEntity): ApplicationView {
  return {
    id: a.id,
    projectId: a.projectId,
    name: a.name,
    isActive: a.isActive,
    createdAt: a.createdAt.toISOString(),
    updatedAt: a.updatedAt.toISOString(),
  };
}
