import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DomainError, ErrorCode, Topics, type RegistryEventV1 } from '@borealis/contracts';
import { MessageBus, type BusMessage } from '@borealis/messaging';
import { randomToken } from '@borealis/util';
import { GATEWAY_OPTIONS, type GatewayModuleOptions } from '../gateway-options';

type RegistryProject = Extract<RegistryEventV1, { kind: 'project' }>['project'];

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
 * The gateway's in-memory view of auth's projects, rebuilt from the compacted registry topic on
 * every start: a consumer group of its own per process, read from the beginning, so that every
 * gateway instance sees every project.
 */
@Injectable()
export class ProjectRegistryView implements OnModuleInit {
  private readonly projects = new Map<string, RegistryProject>();

  constructor(
    private readonly bus: MessageBus,
    @Inject(GATEWAY_OPTIONS) private readonly options: GatewayModuleOptions,
  ) {}

  async onModuleInit(): Promise<void> {
    const prefix = this.options.consumerGroupPrefix ?? 'borealis.gateway';
    await this.bus.subscribe({
      topic: Topics.registry,
      group: `${prefix}.registry.${randomToken(6)}`,
      fromBeginning: true,
      handler: async (messages) => this.apply(messages),
    });
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

  private async apply(messages: BusMessage<RegistryEventV1>[]): Promise<void> {
    for (const { value } of messages) {
      if (value.kind !== 'project') continue;
      // Redelivery may replay an older state: keep the newest.
      const known = this.projects.get(value.project.id);
      if (!known || known.updatedAtMs <= value.project.updatedAtMs) this.projects.set(value.project.id, value.project);
    }
  }
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}
