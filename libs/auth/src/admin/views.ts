import type {
  ApplicationEntity,
  AuditLogEntity,
  InvitationEntity,
  ProjectEntity,
  Role,
  ServiceAccountEntity,
  ServiceAccountKeyEntity,
  TenantEntity,
} from '../persistence/entities';

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
  origin: 'generated' | 'uploaded';
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
  /** Devices must present the application's registration secret to register (docs/security.md). */
  registrationSecretRequired: boolean;
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
  expiresAt: string | null;
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
      keys: keys.map(keyView),
    },
  };
}

export function applicationView(a: ApplicationEntity): ApplicationView {
  return {
    id: a.id,
    projectId: a.projectId,
    name: a.name,
    isActive: a.isActive,
    registrationSecretRequired: a.registrationSecretHash !== null,
    createdAt: a.createdAt.toISOString(),
    updatedAt: a.updatedAt.toISOString(),
  };
}

export function keyView(k: ServiceAccountKeyEntity): ServiceAccountKeyView {
  return {
    keyId: k.kid,
    origin: k.origin,
    createdAt: k.createdAt.toISOString(),
    expiresAt: k.expiresAt?.toISOString() ?? null,
    revokedAt: k.revokedAt?.toISOString() ?? null,
  };
}

export interface MemberView {
  accountId: string;
  email: string;
  role: Role;
  since: string;
}

export interface InvitationView {
  id: string;
  tenantId: string;
  email: string;
  role: Role;
  invitedBy: string;
  createdAt: string;
  expiresAt: string;
  acceptedAt: string | null;
  revokedAt: string | null;
}

export function invitationView(i: InvitationEntity): InvitationView {
  return {
    id: i.id,
    tenantId: i.tenantId,
    email: i.email,
    role: i.role,
    invitedBy: i.invitedBy,
    createdAt: i.createdAt.toISOString(),
    expiresAt: i.expiresAt.toISOString(),
    acceptedAt: i.acceptedAt?.toISOString() ?? null,
    revokedAt: i.revokedAt?.toISOString() ?? null,
  };
}

export interface AuditEntryView {
  seq: string;
  at: string;
  actor: string;
  action: string;
  entityType: string;
  entityId: string;
  details: Record<string, unknown>;
}

export function auditEntryView(a: AuditLogEntity): AuditEntryView {
  return { seq: a.seq, at: a.at.toISOString(), actor: a.actor, action: a.action, entityType: a.entityType, entityId: a.entityId, details: a.details };
}
