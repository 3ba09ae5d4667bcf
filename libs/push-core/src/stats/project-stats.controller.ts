import { Controller, Get, Param, Query } from '@nestjs/common';
import { DomainError, ErrorCode, type ProjectStatsV1 } from '@borealis/contracts';
import { ProjectStatsQuery } from './project-stats.query';

/** Cluster-internal: the gateway reads project statistics here in distributed mode. */
@Controller('internal/v1/projects/:projectId/stats')
export class ProjectStatsController {
  constructor(private readonly query: ProjectStatsQuery) {}

  @Get()
  get(@Param('projectId') projectId: string, @Query('from') from: unknown, @Query('to') to: unknown): Promise<ProjectStatsV1> {
    if (typeof from !== 'string' || typeof to !== 'string') throw new DomainError(ErrorCode.InvalidArgument, 'from and to (YYYY-MM-DD) are required');
    return this.query.getStats(projectId, from, to);
  }
}
