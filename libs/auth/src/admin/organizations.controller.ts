import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { Authenticated, RequireRole, type Actor } from '../access/access';
import { AccessGuard, Caller } from '../access/access.guard';
import { AuditQuery, CreateProjectRequest, CreateTenantRequest, InviteRequest, SetRoleRequest, parseBody } from './admin-requests';
import { Operation } from './operation';
import { OrganizationAdmin } from './organization-admin.service';
import { RegistryAdmin } from './registry-admin.service';
import type { AuditEntryView, InvitationView, MemberView, ProjectView, TenantView } from './views';

/** Organizations (tenants): members, roles, invitations, projects, the audit log. */
@Controller('auth/admin/v1/tenants')
@UseGuards(AccessGuard)
export class OrganizationsController {
  constructor(
    private readonly registry: RegistryAdmin,
    private readonly organizations: OrganizationAdmin,
  ) {}

  @Post()
  @Authenticated()
  @Operation('Create an organization; the signed-in account becomes its owner', { body: CreateTenantRequest })
  createTenant(@Caller() actor: Actor, @Body() body: unknown): Promise<TenantView> {
    return this.registry.createTenant(actor, parseBody(CreateTenantRequest, body).name);
  }

  @Get()
  @Authenticated()
  @Operation('The organizations the caller is a member of (all of them for the operator)')
  listTenants(@Caller() actor: Actor): Promise<TenantView[]> {
    return this.registry.listTenants(actor);
  }

  @Get(':tenantId')
  @RequireRole('viewer')
  @Operation('One organization')
  getTenant(@Param('tenantId') tenantId: string): Promise<TenantView> {
    return this.registry.getTenant(tenantId);
  }

  @Post(':tenantId/projects')
  @RequireRole('admin')
  @Operation('Create a project', { body: CreateProjectRequest })
  createProject(@Caller() actor: Actor, @Param('tenantId') tenantId: string, @Body() body: unknown): Promise<ProjectView> {
    return this.registry.createProject(actor, tenantId, parseBody(CreateProjectRequest, body).name);
  }

  @Get(':tenantId/projects')
  @RequireRole('viewer')
  @Operation("The organization's projects")
  listProjects(@Param('tenantId') tenantId: string): Promise<ProjectView[]> {
    return this.registry.listProjects(tenantId);
  }

  @Get(':tenantId/members')
  @RequireRole('viewer')
  @Operation('Members and their roles')
  listMembers(@Param('tenantId') tenantId: string): Promise<MemberView[]> {
    return this.organizations.listMembers(tenantId);
  }

  @Patch(':tenantId/members/:accountId')
  @RequireRole('admin')
  @Operation("Change a member's role (owner role: owners only)", { body: SetRoleRequest })
  setRole(@Caller() actor: Actor, @Param('tenantId') tenantId: string, @Param('accountId') accountId: string, @Body() body: unknown): Promise<MemberView> {
    return this.organizations.setRole(actor, tenantId, accountId, parseBody(SetRoleRequest, body).role);
  }

  @Delete(':tenantId/members/:accountId')
  @RequireRole('admin')
  @HttpCode(204)
  @Operation('Remove a member (the last owner stays)')
  removeMember(@Caller() actor: Actor, @Param('tenantId') tenantId: string, @Param('accountId') accountId: string): Promise<void> {
    return this.organizations.removeMember(actor, tenantId, accountId);
  }

  @Post(':tenantId/invitations')
  @RequireRole('admin')
  @Operation('Invite an e-mail address with a role; the answer holds the single-use token, once', { body: InviteRequest })
  invite(@Caller() actor: Actor, @Param('tenantId') tenantId: string, @Body() body: unknown): Promise<InvitationView & { token: string }> {
    const { email, role } = parseBody(InviteRequest, body);
    return this.organizations.invite(actor, tenantId, email, role);
  }

  @Get(':tenantId/invitations')
  @RequireRole('admin')
  @Operation('Invitations, pending and past')
  listInvitations(@Param('tenantId') tenantId: string): Promise<InvitationView[]> {
    return this.organizations.listInvitations(tenantId);
  }

  @Delete(':tenantId/invitations/:invitationId')
  @RequireRole('admin')
  @HttpCode(204)
  @Operation('Revoke a pending invitation')
  revokeInvitation(@Caller() actor: Actor, @Param('tenantId') tenantId: string, @Param('invitationId') invitationId: string): Promise<void> {
    return this.organizations.revokeInvitation(actor, tenantId, invitationId);
  }

  @Get(':tenantId/audit-log')
  @RequireRole('admin')
  @Operation('Who changed what, newest first; page with ?before=<seq of the last entry>', { query: { limit: '1..500, default 100', before: 'seq' } })
  auditLog(@Param('tenantId') tenantId: string, @Query() query: unknown): Promise<{ entries: AuditEntryView[]; next: string | null }> {
    const { limit, before } = parseBody(AuditQuery, query, 'query');
    return this.organizations.readAudit(tenantId, limit, before);
  }
}
