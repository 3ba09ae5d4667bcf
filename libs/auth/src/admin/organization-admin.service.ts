import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { QueryFailedError, type DataSource } from 'typeorm';
import { DomainError, ErrorCode } from '@borealis/contracts';
import { Clock, randomToken, uuidv7 } from '@borealis/util';
import { actorName, hasRole, type Actor } from '../access/access';
import { normalizeEmail, sessionTokenHash } from '../accounts/accounts.service';
import { AUTH_CONNECTION } from '../persistence/database';
import type { InvitationEntity, Role } from '../persistence/entities';
import { RegistryRepository } from '../persistence/registry.repository';
import { notFound } from './registry-admin.service';
import { auditEntryView, invitationView, type AuditEntryView, type InvitationView, type MemberView } from './views';

/** Invitations are valid for a week. */
const INVITATION_TTL_MS = 7 * 24 * 3600 * 1000;
const INVITATION_TOKEN_PREFIX = 'bci_';

/**
 * Members, roles, invitations and the audit log of an organization (tenant). Only an owner (or the
 * operator) grants or takes the owner role, and an organization never loses its last owner.
 */
@Injectable()
export class OrganizationAdmin {
  private readonly logger = new Logger(OrganizationAdmin.name);

  constructor(
    @InjectDataSource(AUTH_CONNECTION) private readonly dataSource: DataSource,
    private readonly clock: Clock,
  ) {}

  async listMembers(tenantId: string): Promise<MemberView[]> {
    const members = await new RegistryRepository(this.dataSource.manager).listMembers(tenantId);
    return members.map((m) => ({ accountId: m.accountId, email: m.email, role: m.role, since: new Date(m.createdAt).toISOString() }));
  }

  async setRole(actor: Actor, tenantId: string, accountId: string, role: Role): Promise<MemberView> {
    return this.dataSource.transaction(async (em) => {
      const repo = new RegistryRepository(em);
      const member = await repo.findMembership(tenantId, accountId, true);
      if (!member) throw notFound('member');
      if (member.role === 'owner' || role === 'owner') await this.requireOwner(repo, actor, tenantId);
      if (member.role === 'owner' && role !== 'owner' && (await repo.countOwners(tenantId)) <= 1) throw lastOwner();
      await repo.updateMembership({ ...member, role });
      await this.audit(repo, actor, tenantId, 'member.role', 'account', accountId, { from: member.role, to: role });
      const account = (await repo.findAccount(accountId))!;
      return { accountId, email: account.email, role, since: member.createdAt.toISOString() };
    });
  }

  async removeMember(actor: Actor, tenantId: string, accountId: string): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      const repo = new RegistryRepository(em);
      const member = await repo.findMembership(tenantId, accountId, true);
      if (!member) throw notFound('member');
      if (member.role === 'owner') {
        await this.requireOwner(repo, actor, tenantId);
        if ((await repo.countOwners(tenantId)) <= 1) throw lastOwner();
      }
      await repo.deleteMembership(tenantId, accountId);
      await this.audit(repo, actor, tenantId, 'member.remove', 'account', accountId, { role: member.role });
    });
  }

  /** The token is in this answer only; hand it to the invitee, who accepts it signed in as that address. */
  async invite(actor: Actor, tenantId: string, email: string, role: Role): Promise<InvitationView & { token: string }> {
    const token = randomToken(32, INVITATION_TOKEN_PREFIX);
    const now = new Date(this.clock.now());
    const invitation: InvitationEntity = {
      id: uuidv7(),
      tenantId,
      email: normalizeEmail(email),
      role,
      tokenHash: sessionTokenHash(token),
      invitedBy: actorName(actor),
      createdAt: now,
      expiresAt: new Date(now.getTime() + INVITATION_TTL_MS),
      acceptedAt: null,
      acceptedBy: null,
      revokedAt: null,
    };
    await this.dataSource.transaction(async (em) => {
      const repo = new RegistryRepository(em);
      if (!(await repo.findTenant(tenantId))) throw notFound('tenant');
      if (role === 'owner') await this.requireOwner(repo, actor, tenantId);
      await repo.insertInvitation(invitation);
      await this.audit(repo, actor, tenantId, 'invitation.create', 'invitation', invitation.id, { email: invitation.email, role });
    });
    this.logger.log({ msg: 'invitation created', tenantId, invitationId: invitation.id });
    return { ...invitationView(invitation), token };
  }

  async listInvitations(tenantId: string): Promise<InvitationView[]> {
    return (await new RegistryRepository(this.dataSource.manager).listInvitations(tenantId)).map(invitationView);
  }

  async revokeInvitation(actor: Actor, tenantId: string, invitationId: string): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      const repo = new RegistryRepository(em);
      const invitation = await repo.findInvitation(tenantId, invitationId);
      if (!invitation) throw notFound('invitation');
      if (invitation.acceptedAt !== null || invitation.revokedAt !== null) return;
      await repo.updateInvitation({ ...invitation, revokedAt: new Date(this.clock.now()) });
      await this.audit(repo, actor, tenantId, 'invitation.revoke', 'invitation', invitationId, {});
    });
  }

  /**
   * Joins the organization the token invites to, with the invited role. The token is single-use and
   * bound to the invited address: a forwarded token is no use to another account.
   */
  async accept(actor: Actor, token: string): Promise<MemberView & { tenantId: string }> {
    if (actor.kind !== 'account') throw new DomainError(ErrorCode.PermissionDenied, 'invitations are accepted by a signed-in account');
    return this.dataSource.transaction(async (em) => {
      const repo = new RegistryRepository(em);
      const invitation = await repo.findInvitationByTokenHash(sessionTokenHash(token));
      const now = new Date(this.clock.now());
      if (!invitation || invitation.acceptedAt !== null || invitation.revokedAt !== null || invitation.expiresAt <= now) {
        throw new DomainError(ErrorCode.NotFound, 'no such invitation, or it was used, revoked or has expired');
      }
      if (invitation.email !== actor.email) throw new DomainError(ErrorCode.PermissionDenied, 'this invitation is for another e-mail address');
      const existing = await repo.findMembership(invitation.tenantId, actor.accountId, true);
      if (existing && hasRole(existing.role, invitation.role)) {
        // Already at least that: accepting must not demote.
      } else if (existing) {
        await repo.updateMembership({ ...existing, role: invitation.role });
      } else {
        await repo.insertMembership({ tenantId: invitation.tenantId, accountId: actor.accountId, role: invitation.role, createdAt: now });
      }
      await repo.updateInvitation({ ...invitation, acceptedAt: now, acceptedBy: actor.accountId });
      await this.audit(repo, actor, invitation.tenantId, 'invitation.accept', 'invitation', invitation.id, { role: invitation.role });
      const role = existing && hasRole(existing.role, invitation.role) ? existing.role : invitation.role;
      return { tenantId: invitation.tenantId, accountId: actor.accountId, email: actor.email, role, since: (existing?.createdAt ?? now).toISOString() };
    }).catch((err: unknown) => {
      if (err instanceof QueryFailedError && (err.driverError as { code?: string }).code === '23505') {
        throw new DomainError(ErrorCode.Conflict, 'accepted concurrently; try again');
      }
      throw err;
    });
  }

  async readAudit(tenantId: string, limit: number, before?: string): Promise<{ entries: AuditEntryView[]; next: string | null }> {
    const entries = await new RegistryRepository(this.dataSource.manager).readAudit(tenantId, limit, before);
    return { entries: entries.map(auditEntryView), next: entries.length === limit ? entries.at(-1)!.seq : null };
  }

  private async requireOwner(repo: RegistryRepository, actor: Actor, tenantId: string): Promise<void> {
    if (actor.kind === 'operator') return;
    const mine = await repo.findMembership(tenantId, actor.accountId);
    if (mine?.role !== 'owner') throw new DomainError(ErrorCode.PermissionDenied, 'only an owner grants or takes the owner role');
  }

  private audit(repo: RegistryRepository, actor: Actor, tenantId: string, action: string, entityType: string, entityId: string, details: Record<string, unknown>) {
    return repo.appendAudit({ tenantId, actor: actorName(actor), action, entityType, entityId, details, at: new Date(this.clock.now()) });
  }
}

function lastOwner(): DomainError {
  return new DomainError(ErrorCode.FailedPrecondition, 'an organization keeps at least one owner');
}
