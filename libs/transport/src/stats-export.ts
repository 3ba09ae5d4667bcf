import type { Metrics } from '@borealis/platform';
import type { TransportStatsSnapshot } from './transport-stats';

/**
 * Carries the transport's own counters (plain numbers bumped on the hot path) into Prometheus
 * counters at scrape time, by adding what grew since the previous scrape. The hot path never
 * touches prom-client.
 */
export class CounterExport {
  private readonly seen = new Map<string, number>();

  constructor(private readonly metrics: Metrics) {}

  update(s: TransportStatsSnapshot): void {
    const m = this.metrics;
    this.add('conn:accepted', s.connectionsAccepted, (n) => m.transportConnectionEvents.inc({ event: 'accepted' }, n));
    this.add('conn:rejected', s.connectionsRejected, (n) => m.transportConnectionEvents.inc({ event: 'rejected' }, n));
    this.add('conn:over_source_share', s.connectionsOverSourceShare, (n) => m.transportConnectionEvents.inc({ event: 'rejected_over_source_share' }, n));
    this.add('conn:upgrade_timed_out', s.upgradesTimedOut, (n) => m.transportConnectionEvents.inc({ event: 'upgrade_timed_out' }, n));
    this.add('conn:closed', s.connectionsClosed, (n) => m.transportConnectionEvents.inc({ event: 'closed' }, n));
    for (const [kind, count] of Object.entries(s.framesIn)) this.add(`in:${kind}`, count ?? 0, (n) => m.transportFrames.inc({ direction: 'in', kind }, n));
    for (const [kind, count] of Object.entries(s.framesOut)) this.add(`out:${kind}`, count ?? 0, (n) => m.transportFrames.inc({ direction: 'out', kind }, n));
    this.add('deliveries:written', s.deliveries, (n) => m.transportDeliveries.inc({ outcome: 'written' }, n));
    this.add('deliveries:not_held', s.deliveriesNotHeld, (n) => m.transportDeliveries.inc({ outcome: 'not_held' }, n));
    this.add('deliveries:queued', s.deliveriesQueued, (n) => m.transportDeliveries.inc({ outcome: 'queued' }, n));
    this.add('deliveries:queued_unwritten', s.queuedUnwritten, (n) => m.transportDeliveries.inc({ outcome: 'queued_unwritten' }, n));
    this.add('deliveries:queued_cancelled', s.queuedCancelled, (n) => m.transportDeliveries.inc({ outcome: 'queued_cancelled' }, n));
    this.add('deliveries:expired', s.deliveriesExpired, (n) => m.transportDeliveries.inc({ outcome: 'expired' }, n));
    this.add('acks', s.acks, (n) => m.transportAcks.inc(n));
    this.add('unacked_group_evicted', s.unackedGroupEvicted, (n) => m.transportUnackedGroupEvicted.inc(n));
    this.add('slow', s.slowReaderDrops, (n) => m.transportSlowReaderDrops.inc(n));
    for (const [code, count] of Object.entries(s.errors)) this.add(`error:${code}`, count ?? 0, (n) => m.transportErrors.inc({ code }, n));
    this.add('presence:restored', s.presenceRestored, (n) => m.transportPresenceRepairs.inc({ outcome: 'restored' }, n));
    this.add('presence:taken', s.presenceTaken, (n) => m.transportPresenceRepairs.inc({ outcome: 'taken' }, n));
    this.add('error:internal_failure', s.internalFailures, (n) => m.transportErrors.inc({ code: 'internal_failure' }, n));
  }

  private add(key: string, total: number, inc: (delta: number) => void): void {
    const delta = total - (this.seen.get(key) ?? 0);
    if (delta > 0) inc(delta);
    this.seen.set(key, total);
  }
}
