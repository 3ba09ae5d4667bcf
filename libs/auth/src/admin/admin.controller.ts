import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, UseGuards } from '@nestjs/common';
import { SigningKeys } from '../signing/signing-keys';
import {
  CreateApplicationRequest,
  CreateProjectRequest,
  CreateServiceAccountRequest,
  CreateTenantRequest,
  SetActiveRequest,
  parseBody,
} from './admin-requests';
import { AdminTokenGuard } from './admin-token.guard';
import { RegistryAdmin } from './registry-admin.service';
import type { ApplicationView, ProjectDetailView, ProjectView, ServiceAccountKeyIssued, TenantView } from './views';

/** The operator's admin API (the console's management API comes later). */
@Controller('auth/admin/v1')
@UseGuards(AdminTokenGuard)
export class AdminController {
  constructor(
    private readonly registry: RegistryAdmin,
    private readonly signingKeys: SigningKeys,
  ) {}

  @Post('tenants')
  createTenant(@Body() body: unknown): Promise<TenantView> {
    return this.registry.createTenant(parseBody(CreateTenantRequest, body).name);
  }

  @Post('tenants/:tenantId/projects')
  createProject(@Param('tenantId') tenantId: string, @Body() body: unknown): Promise<ProjectView> {
    return this.registry.createProject(tenantId, parseBody(CreateProjectRequest, body).name);
  }

  @Get('projects/:projectId')
  getProject(@Param('projectId') projectId: string): Promise<ProjectDetailView> {
    return this.registry.getProject(projectId);
  }

  @Patch('projects/:projectId')
  setProjectActive(@Param('projectId') projectId: string, @Body() body: unknown): Promise<ProjectView> {
    return this.registry.setProjectActive(projectId, parseBody(SetActiveRequest, body).isActive);
  }

  @Post('projects/:projectId/service-accounts')
  createServiceAccountKey(@Param('projectId') projectId: string, @Body() body: unknown): Promise<ServiceAccountKeyIssued> {
    parseBody(CreateServiceAccountRequest, body);
    return this.registry.createServiceAccountKey(projectId);
  }

  @Delete('projects/:projectId/service-accounts/keys/:keyId')
  @HttpCode(204)
  revokeServiceAccountKey(@Param('projectId') projectId: string, @Param('keyId') keyId: string): Promise<void> {
    return this.registry.revokeServiceAccountKey(projectId, keyId);
  }

  @Post('projects/:projectId/applications')
  createApplication(@Param('projectId') projectId: string, @Body() body: unknown): Promise<ApplicationView> {
    return this.registry.createApplication(projectId, parseBody(CreateApplicationRequest, body).name);
  }

  @Patch('projects/:projectId/applications/:applicationId')
  setApplicationActive(
    @Param('projectId') projectId: string,
    @Param('applicationId') applicationId: string,
    @Body() body: unknown,
  ): Promise<ApplicationView> {
    return this.registry.setApplicationActive(projectId, applicationId, parseBody(SetActiveRequest, body).isActive);
  }

  /** Makes a new current access-token signing key; the previous one stays in the JWKS. */
  @Post('signing-keys')
  async rotateSigningKey(): Promise<{ kid: string }> {
    return { kid: await this.signingKeys.rotateSigningKey() };
  }
}
