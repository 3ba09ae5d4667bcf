import { Body, Controller, Delete, Get, HttpCode, Logger, Optional, Param, Patch, Post, UseGuards } from '@nestjs/common';
import { RequireRole, type Actor } from '../access/access';
import { AccessGuard, Caller } from '../access/access.guard';
import { PushCoreReads } from '../console/push-core-reads';
import { CreateApplicationRequest, CreateKeyRequest, ExpireKeyRequest, SetActiveRequest, UploadKeyRequest, parseBody } from './admin-requests';
import { Operation } from './operation';
import { RegistryAdmin } from './registry-admin.service';
import type { ApplicationView, ProjectDetailView, ProjectView, ServiceAccountKeyIssued, ServiceAccountKeyView } from './views';

/** A project, its service account keys and its applications. */
@Controller('auth/admin/v1/projects/:projectId')
@UseGuards(AccessGuard)
export class ProjectsController {
  private readonly logger = new Logger(ProjectsController.name);

  constructor(
    private readonly registry: RegistryAdmin,
    @Optional() private readonly pushCore?: PushCoreReads,
  ) {}

  @Get()
  @RequireRole('viewer')
  @Operation('A project with its service account and keys (never a private key)')
  getProject(@Param('projectId') projectId: string): Promise<ProjectDetailView> {
    return this.registry.getProject(projectId);
  }

  @Patch()
  @RequireRole('admin')
  @Operation('Activate or deactivate a project', { body: SetActiveRequest })
  setProjectActive(@Caller() actor: Actor, @Param('projectId') projectId: string, @Body() body: unknown): Promise<ProjectView> {
    return this.registry.setProjectActive(actor, projectId, parseBody(SetActiveRequest, body).isActive);
  }

  @Post('service-accounts')
  @RequireRole('developer')
  @Operation('Generate a key pair; the answer holds the project settings file with the private key, once', { body: CreateKeyRequest })
  createServiceAccountKey(@Caller() actor: Actor, @Param('projectId') projectId: string, @Body() body: unknown): Promise<ServiceAccountKeyIssued> {
    return this.registry.createServiceAccountKey(actor, projectId, parseBody(CreateKeyRequest, body).expiresAt);
  }

  @Get('service-accounts/keys')
  @RequireRole('viewer')
  @Operation("The service account's keys")
  listKeys(@Param('projectId') projectId: string): Promise<ServiceAccountKeyView[]> {
    return this.registry.listServiceAccountKeys(projectId);
  }

  @Post('service-accounts/keys')
  @RequireRole('developer')
  @Operation('Upload an RSA public key (PEM, 2048 bits or more)', { body: UploadKeyRequest })
  uploadKey(@Caller() actor: Actor, @Param('projectId') projectId: string, @Body() body: unknown): Promise<ServiceAccountKeyView & { clientId: string }> {
    const { publicKeyPem, expiresAt } = parseBody(UploadKeyRequest, body);
    return this.registry.uploadServiceAccountKey(actor, projectId, publicKeyPem, expiresAt);
  }

  @Patch('service-accounts/keys/:keyId')
  @RequireRole('developer')
  @Operation('Expire a key now or at a later instant', { body: ExpireKeyRequest })
  expireKey(@Caller() actor: Actor, @Param('projectId') projectId: string, @Param('keyId') keyId: string, @Body() body: unknown): Promise<ServiceAccountKeyView> {
    return this.registry.expireServiceAccountKey(actor, projectId, keyId, parseBody(ExpireKeyRequest, body).expiresAt);
  }

  @Delete('service-accounts/keys/:keyId')
  @RequireRole('developer')
  @HttpCode(204)
  @Operation('Revoke a key')
  revokeKey(@Caller() actor: Actor, @Param('projectId') projectId: string, @Param('keyId') keyId: string): Promise<void> {
    return this.registry.revokeServiceAccountKey(actor, projectId, keyId);
  }

  @Post('applications')
  @RequireRole('developer')
  @Operation('Create an application (its id is app_ + 128 random bits)', { body: CreateApplicationRequest })
  createApplication(@Caller() actor: Actor, @Param('projectId') projectId: string, @Body() body: unknown): Promise<ApplicationView> {
    return this.registry.createApplication(actor, projectId, parseBody(CreateApplicationRequest, body).name);
  }

  @Get('applications')
  @RequireRole('viewer')
  @Operation("The project's applications, each with `registrations`: its live registrations (null when push-core cannot be asked now)")
  async listApplications(@Param('projectId') projectId: string): Promise<(ApplicationView & { registrations: number | null })[]> {
    const [applications, counts] = await Promise.all([this.registry.listApplications(projectId), this.registrationCounts(projectId)]);
    return applications.map((a) => ({ ...a, registrations: counts === null ? null : (counts[a.id] ?? 0) }));
  }

  /** push-core's counts, or null when it cannot be asked (the list itself stays available). */
  private async registrationCounts(projectId: string): Promise<Record<string, number> | null> {
    if (!this.pushCore) return null;
    try {
      return (await this.pushCore.registrationCounts(projectId)).applications;
    } catch (err) {
      this.logger.warn({ msg: 'registration counts unavailable', projectId, error: String(err) });
      return null;
    }
  }

  @Patch('applications/:applicationId')
  @RequireRole('developer')
  @Operation('Activate or deactivate an application', { body: SetActiveRequest })
  setApplicationActive(
    @Caller() actor: Actor,
    @Param('projectId') projectId: string,
    @Param('applicationId') applicationId: string,
    @Body() body: unknown,
  ): Promise<ApplicationView> {
    return this.registry.setApplicationActive(actor, projectId, applicationId, parseBody(SetActiveRequest, body).isActive);
  }

  @Post('applications/:applicationId/registration-secret')
  @RequireRole('developer')
  @Operation("Issue a registration secret: from now on devices must present it in Register (docs/security.md); a new one replaces the old. The answer holds it, once")
  issueRegistrationSecret(@Caller() actor: Actor, @Param('projectId') projectId: string, @Param('applicationId') applicationId: string): Promise<ApplicationView & { registrationSecret?: string }> {
    return this.registry.setRegistrationSecret(actor, projectId, applicationId, true);
  }

  @Delete('applications/:applicationId/registration-secret')
  @RequireRole('developer')
  @Operation('Require no registration secret any more')
  removeRegistrationSecret(@Caller() actor: Actor, @Param('projectId') projectId: string, @Param('applicationId') applicationId: string): Promise<ApplicationView> {
    return this.registry.setRegistrationSecret(actor, projectId, applicationId, false);
  }
}
