import { Controller, Get, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Metrics } from './metrics';

@Controller()
export class MetricsController {
  constructor(private readonly metrics: Metrics) {}

  /** Prometheus exposition format. Scraped from inside the cluster only (see deploy/ NetworkPolicies). */
  @Get('metrics')
  async metricsText(@Res() reply: FastifyReply): Promise<void> {
    const text = await this.metrics.render();
    void reply.header('content-type', this.metrics.contentType).header('cache-control', 'no-store').send(text);
  }
}
