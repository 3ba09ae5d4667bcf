import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { DomainError, ErrorCode, type RegistrationCountsV1, type RegistrationInfoV1, type RegistrationTopicsV1 } from '@borealis/contracts';
import { RegistrationQuery } from './registration.query';

/** Cluster-internal: the gateway reads registrations here in distributed mode. Never exposed publicly. */
@Controller('internal/v1/projects/:projectId/registrations')
export class RegistrationController {
  constructor(private readonly query: RegistrationQuery) {}

  @Get(':registrationId')
  async get(@Param('projectId') projectId: string, @Param('registrationId') registrationId: string): Promise<RegistrationInfoV1> {
    return orNotFound(await this.query.getRegistration(projectId, registrationId));
  }

  /** Which of `registrationIds` (at most 1,000) are live registrations of the project. */
  @Post('live')
  @HttpCode(200)
  async live(@Param('projectId') projectId: string, @Body() body: unknown): Promise<{ registrationIds: string[] }> {
    const ids = (body as { registrationIds?: unknown } | null)?.registrationIds;
    if (!Array.isArray(ids) || ids.length > 1000 || !ids.every((id): id is string => typeof id === 'string')) {
      throw new DomainError(ErrorCode.InvalidArgument, 'registrationIds must be an array of at most 1000 strings');
    }
    return { registrationIds: [...(await this.query.liveOf(projectId, ids))] };
  }

  @Get(':registrationId/topics')
  async topics(@Param('projectId') projectId: string, @Param('registrationId') registrationId: string): Promise<RegistrationTopicsV1> {
    return orNotFound(await this.query.getTopics(projectId, registrationId));
  }
}

function orNotFound<T>(value: T | null): T {
  if (value === null) throw new DomainError(ErrorCode.NotFound, 'no such registration in this project');
  return value;
}

/** Cluster-internal: auth reads each application's live registrations here for the console. */
@Controller('internal/v1/projects/:projectId/registration-counts')
export class RegistrationCountsController {
  constructor(private readonly query: RegistrationQuery) {}

  @Get()
  counts(@Param('projectId') projectId: string): Promise<RegistrationCountsV1> {
    return this.query.registrationCounts(projectId);
  }
}
