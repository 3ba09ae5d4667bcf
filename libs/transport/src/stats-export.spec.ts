import { Metrics } from '@borealis/platform';
import { CounterExport } from './stats-export';
import type { TransportStatsSnapshot } from './transport-stats';

function snapshot(over: Partial<TransportStatsSnapshot> = {}): TransportStatsSnapshot {
  return {
    connectionsOpen: 0,
    connectionsByWire: { tcp: 0, tls: 0, ws: 0 },
    devicesHeld: 0,
    sourcesConnected: 0,
    unackedGroupMessages: 0,
    unackedGroupBytes: 0,
    unackedGroupEvicted: 0,
    connectionsAccepted: 0,
    connectionsRejected: 0,
    connectionsOverSourceShare: 0,
    enrollmentsOverSourceLimit: 0,
    registersOverSourceLimit: 0,
    connectionsClosed: 0,
    upgradesTimedOut: 0,
    framesIn: {},
    framesOut: {},
    deliveries: 0,
    deliveriesNotHeld: 0,
    deliveriesExpired: 0,
    deliveriesQueued: 0,
    queuedUnwritten: 0,
    queuedCancelled: 0,
    acks: 0,
    slowReaderDrops: 0,
    errors: {},
    internalFailures: 0,
    presenceRestored: 0,
    presenceTaken: 0,
    ...over,
  };
}

describe('CounterExport', () => {
  it('adds what grew since the last scrape to the Prometheus counters, once', async () => {
    const metrics = new Metrics({ service: 'transport', processMetrics: false });
    const exported = new CounterExport(metrics);
    exported.update(snapshot({ connectionsAccepted: 3, framesIn: { hello: 3, ack: 2 }, deliveries: 5, acks: 4, errors: { MALFORMED_FRAME: 1 } }));
    exported.update(snapshot({ connectionsAccepted: 5, framesIn: { hello: 5, ack: 2 }, deliveries: 9, deliveriesQueued: 6, queuedUnwritten: 2, acks: 4, unackedGroupEvicted: 7, errors: { MALFORMED_FRAME: 1 }, internalFailures: 1 }));
    const text = await metrics.render();
    expect(text).toMatch(/borealis_transport_connection_events_total\{[^}]*event="accepted"[^}]*\} 5/);
    expect(text).toMatch(/borealis_transport_frames_total\{[^}]*direction="in",kind="hello"[^}]*\} 5/);
    expect(text).toMatch(/borealis_transport_frames_total\{[^}]*direction="in",kind="ack"[^}]*\} 2/);
    expect(text).toMatch(/borealis_transport_deliveries_total\{[^}]*outcome="written"[^}]*\} 9/);
    expect(text).toMatch(/borealis_transport_deliveries_total\{[^}]*outcome="queued"[^}]*\} 6/);
    expect(text).toMatch(/borealis_transport_deliveries_total\{[^}]*outcome="queued_unwritten"[^}]*\} 2/);
    expect(text).toMatch(/borealis_transport_acks_total\{[^}]*\} 4/);
    expect(text).toMatch(/borealis_transport_unacked_group_evicted_total\{[^}]*\} 7/);
    expect(text).toMatch(/borealis_transport_errors_total\{[^}]*code="MALFORMED_FRAME"[^}]*\} 1/);
    expect(text).toMatch(/borealis_transport_errors_total\{[^}]*code="internal_failure"[^}]*\} 1/);
  });
});
