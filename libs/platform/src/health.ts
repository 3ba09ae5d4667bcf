import { Controller, Get, Header, HttpCode, Injectable, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { MessageBus } from '@borealis/messaging';

export interface ReadinessCheck {
  name: string;
  ready(): boolean | Promise<boolean>;
}

/** What `/readyz` asks. Services add their dependencies; draining makes it fail at once. */
@Injectable()
export class Readiness {
  private readonly checks: ReadinessCheck[] = [];
  private draining = false;

  constructor(bus: MessageBus) {
    this.add({ name: 'message-bus', ready: () => bus.isReady() });
  }

  add(check: ReadinessCheck): void {
    this.checks.push(check);
  }

  startDraining(): void {
    this.draining = true;
  }

  async report(): Promise<{ ready: boolean; checks: Record<string, boolean> }> {
    const checks: Record<string, boolean> = { draining: !this.draining };
    for (const check of this.checks) {
      try {
        checks[check.name] = await check.ready();
      } catch {
        checks[check.name] = false;
      }
    }
    return { ready: Object.values(checks).every(Boolean), checks };
  }
}

@Controller()
export class HealthController {
  constructor(private readonly readiness: Readiness) {}

  /** Liveness: the process answers. */
  @Get('healthz')
  @HttpCode(200)
  @Header('cache-control', 'no-store')
  healthz(): { status: string } {
    return { status: 'ok' };
  }

  /** Readiness: dependencies reachable and not draining. */
  @Get('readyz')
  @Header('cache-control', 'no-store')
  async readyz(@Res() reply: FastifyReply): Promise<void> {
    const report = await this.readiness.report();
    void reply.status(report.ready ? 200 : 503).send(report);
  }
}
