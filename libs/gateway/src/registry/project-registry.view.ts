import { Injectable } from '@nestjs/common';
import { DomainError, ErrorCode, type RegistryEventV1 } from '@borealis/contracts';
import { Clock } from '@borealis/util';
import type { AccessPrincipal } from '../access/access-token-verifier';

type RegistryProject = Extract<RegistryEventV1, { kind: 'project' }>['project'];
type RegistryKey = Extract<RegistryEventV1, { kind: 'service-account-key' }>['key'];

/** The Aurora project description (`GET /projects/{project_id}`). */
export interface ProjectInfo {
  id: string;
  name: string;
  isActive: boolean;
  serviceAccount: { clientId: string; createdAt: string } | null;
  createdAt: string;
  updatedAt: string;
}

/**
 * The gateway's in-memory view of auth's projects and service-account keys, rebuilt from the
 * compacted registry topic on every start (RegistryEventsController: a consumer group of its own per
 * process, read from the beginning, so that every gateway instance sees every entity). It lets the
 * gateway refuse tokens of deactivated projects and revoked keys without asking auth.
 */
@Injectable()
export class ProjectRegistryView {
  private readonly projects = new Map<string, RegistryProject>();
  private readonly keys = new Map<string, RegistryKey>();

  constructor(private readonly clock: Clock) {}

  /**
   * Refuses a token obtained with a key that auth has revoked or that has expired (401: the token
   * is no longer good), or one whose key belongs to another project or client. Every token names
   * its key (the verifier refuses those that do not). A key not in the view passes: the view may
   * not have caught up with a key created a moment ago, and the signature vouches for the token.
   */
  assertKeyValid(principal: AccessPrincipal): void {
    const key = this.keys.get(principal.keyId);
    if (!key) return;
    if (key.projectId !== principal.projectId || key.clientId !== principal.clientId) {
      throw new DomainError(ErrorCode.Unauthenticated, 'the access token names a key of another service account');
    }
    const now = this.clock.now();
    if (key.revokedAtMs !== null && key.revokedAtMs <= now) throw new DomainError(ErrorCode.Unauthenticated, 'the access token was obtained with a revoked key');
    if (key.expiresAtMs !== null && key.expiresAtMs <= now) throw new DomainError(ErrorCode.Unauthenticated, 'the access token was obtained with an expired key');
  }

  /** Refuses a project that auth has deactivated; unknown projects pass (the token vouches for them). */
  assertActive(projectId: string): void {
    if (this.projects.get(projectId)?.isActive === false) {
      throw new DomainError(ErrorCode.PermissionDenied, `project ${projectId} is inactive`);
    }
  }

  describe(projectId: string): ProjectInfo {
    const project = this.projects.get(projectId);
    if (!project) throw new DomainError(ErrorCode.NotFound, `project ${projectId} not found`);
    return {
      id: project.id,
      name: project.name,
      isActive: project.isActive,
      serviceAccount: project.serviceAccount && {
        clientId: project.serviceAccount.clientId,
        createdAt: rfc3339(project.serviceAccount.createdAtMs),
      },
      createdAt: rfc3339(project.createdAtMs),
      updatedAt: rfc3339(project.updatedAtMs),
    };
  }

  async apply(events: RegistryEventV1[]): Promise<void> {
    // Redelivery may replay an older state: keep the newest.
    for (const value of events) {
      if (value.kind === 'project') keepNewest(this.projects, value.project.id, value.project);
      else if (value.kind === 'service-account-key') keepNewest(this.keys, value.key.id, value.key);
    }
  }
}

function keepNewest<T extends { updatedAtMs: number }>(map: Map<string, T>, id: string, entity: T): void {
  const known = map.get(id);
  if (!known || known.updatedAtMs <= entity.updatedAtMs) map.set(id, entity);
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}
