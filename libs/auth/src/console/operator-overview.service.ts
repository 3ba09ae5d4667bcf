import { Inject, Injectable, Optional } from '@nestjs/common';
import { MetricNames, Metrics, Readiness } from '@borealis/platform';
import { AUTH_OPTIONS, type AuthModuleOptions } from '../auth-options';

export interface ServiceHealth {
  name: string;
  status: 'up' | 'down';
  detail?: string;
}

export interface OperatorOverview {
  services: ServiceHealth[];
  metrics: Record<string, number>;
}

/** The key figures, each the sum over every service read of one metric (and label value). */
const FIGURES: Record<string, { metric: string; label?: [string, string] }> = {
  pushesAccepted: { metric: MetricNames.messagesAccepted },
  pushesRejected: { metric: MetricNames.messagesRejected },
  deliveriesPending: { metric: MetricNames.deliveriesPending },
  deliveriesSent: { metric: MetricNames.deliveries, label: ['state', 'sent'] },
  deliveriesDelivered: { metric: MetricNames.deliveries, label: ['state', 'delivered'] },
  deliveriesExpired: { metric: MetricNames.deliveries, label: ['state', 'expired'] },
  deliveriesFailed: { metric: MetricNames.deliveries, label: ['state', 'failed'] },
  deliveriesCancelled: { metric: MetricNames.deliveries, label: ['state', 'cancelled'] },
  connectedDevices: { metric: MetricNames.devicesHeld },
  deviceConnections: { metric: MetricNames.deviceConnections },
  busConsumerLag: { metric: MetricNames.busConsumerLag },
  busDeadLetters: { metric: MetricNames.busDeadLetters },
  busPublishFailures: { metric: MetricNames.busPublishFailures },
  httpRequests: { metric: MetricNames.httpRequests },
};

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (format 0.0.4); comments and unparsable lines are skipped. */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const label of (match[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[label[1]!] = label[2]!.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
    const value = Number(match[4]);
    if (Number.isFinite(value)) samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

/** The key figures of some expositions, summed; every figure is present (0 when no service has it). */
export function keyFigures(expositions: readonly string[]): Record<string, number> {
  const samples = expositions.flatMap(parseExposition);
  const figures: Record<string, number> = {};
  for (const [figure, { metric, label }] of Object.entries(FIGURES)) {
    figures[figure] = samples.filter((s) => s.name === metric && (!label || s.labels[label[0]] === label[1])).reduce((sum, s) => sum + s.value, 0);
  }
  return figures;
}

const TIMEOUT_MS = 3000;

/**
 * The operator's overview (`GET /auth/admin/v1/operator/overview`): each service's readiness and
 * the key figures of `/metrics`. This process answers for itself in process (standalone: every
 * service); the others configured (`CONSOLE_OVERVIEW_SERVICES`: gateway, push-core, transports)
 * are asked for `/readyz` and `/metrics` over HTTP. A URL behind a load balancer reaches one
 * replica: its figures are that replica's (Prometheus has the whole cluster's).
 */
@Injectable()
export class OperatorOverviewService {
  constructor(
    @Inject(AUTH_OPTIONS) private readonly options: Pick<AuthModuleOptions, 'console'>,
    @Optional() private readonly readiness?: Readiness,
    @Optional() private readonly metrics?: Metrics,
  ) {}

  async overview(): Promise<OperatorOverview> {
    const remote = this.options.console?.services ?? [];
    const [self, ...others] = await Promise.all([this.local(), ...remote.map((s) => this.remote(s.name, s.url))]);
    const all = [self!, ...others];
    return { services: all.map((s) => s.health), metrics: keyFigures(all.map((s) => s.exposition)) };
  }

  private async local(): Promise<{ health: ServiceHealth; exposition: string }> {
    const name = this.options.console?.selfName ?? 'auth';
    const report = this.readiness ? await this.readiness.report() : { ready: true, checks: {} };
    const failing = Object.entries(report.checks).filter(([, ok]) => !ok).map(([check]) => check);
    const health: ServiceHealth = report.ready ? { name, status: 'up' } : { name, status: 'down', detail: `not ready: ${failing.join(', ')}` };
    return { health, exposition: this.metrics ? await this.metrics.render() : '' };
  }

  private async remote(name: string, url: string): Promise<{ health: ServiceHealth; exposition: string }> {
    const base = url.replace(/\/+$/, '');
    const [ready, metrics] = await Promise.allSettled([fetchText(`${base}/readyz`), fetchText(`${base}/metrics`)]);
    let health: ServiceHealth;
    if (ready.status === 'rejected') health = { name, status: 'down', detail: `unreachable (${describe(ready.reason)})` };
    else if (ready.value.ok) health = { name, status: 'up' };
    else health = { name, status: 'down', detail: `not ready (${ready.value.status}): ${failingChecks(ready.value.text)}` };
    return { health, exposition: metrics.status === 'fulfilled' && metrics.value.ok ? metrics.value.text : '' };
  }
}

async function fetchText(url: string): Promise<{ ok: boolean; status: number; text: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  return { ok: response.ok, status: response.status, text: await response.text() };
}

function failingChecks(text: string): string {
  try {
    const checks = (JSON.parse(text) as { checks?: Record<string, boolean> }).checks ?? {};
    return Object.entries(checks).filter(([, ok]) => !ok).map(([check]) => check).join(', ') || 'unknown';
  } catch {
    return 'unknown';
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
}
