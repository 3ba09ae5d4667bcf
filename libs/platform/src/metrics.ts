import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BusObserver } from '@borealis/messaging';

/**
 * prom-client default metrics left out: each scrape walks every open handle or file descriptor,
 * on the event loop. Measured: 10 ms per scrape at 5,000 sockets and 37 ms at 18,000 (about 2 µs a
 * socket), against 1 ms without them; a transport holding 500,000 connections would stall about a
 * second per scrape. `borealis_transport_connections` counts a transport's sockets instead.
 */
export const UNBOUNDED_DEFAULT_METRICS = ['nodejs_active_handles', 'nodejs_active_handles_total', 'nodejs_active_resources', 'nodejs_active_resources_total', 'process_open_fds'] as const;

/**
 * Every metric name Borealis exports, in one place (docs/operations.md lists them with their
 * labels; deploy/observability/ alerts and charts on them, and a test checks that those only use
 * names from here). Besides these, prom-client's default process and Node.js metrics
 * (`process_*`, `nodejs_*`) are exported, except `UNBOUNDED_DEFAULT_METRICS`.
 */
export const MetricNames = {
  // HTTP, recorded by the platform for every service.
  httpRequests: 'borealis_http_requests_total',
  httpRequestDuration: 'borealis_http_request_duration_seconds',
  // Message bus, recorded by the platform for every service.
  busPublished: 'borealis_bus_published_records_total',
  busPublishFailures: 'borealis_bus_publish_failures_total',
  busConsumed: 'borealis_bus_consumed_records_total',
  busHandlerDuration: 'borealis_bus_handler_duration_seconds',
  busHandlerRetries: 'borealis_bus_handler_retries_total',
  busDeadLetters: 'borealis_bus_dead_letters_total',
  busConsumerLag: 'borealis_bus_consumer_lag_records',
  // Readiness, as /readyz answers it (1 ready, 0 not), set on every scrape.
  ready: 'borealis_ready',
  // Service signals, recorded by the service libraries through `Metrics`.
  messagesAccepted: 'borealis_gateway_messages_accepted_total',
  messagesRejected: 'borealis_gateway_messages_rejected_total',
  deliveriesPending: 'borealis_push_deliveries_pending',
  deliveries: 'borealis_push_deliveries_total',
  deliveryLatency: 'borealis_push_delivery_latency_seconds',
  deviceConnections: 'borealis_transport_connections',
  devicesHeld: 'borealis_transport_devices',
  sourcesConnected: 'borealis_transport_sources',
  transportConnectionEvents: 'borealis_transport_connection_events_total',
  transportFrames: 'borealis_transport_frames_total',
  transportDeliveries: 'borealis_transport_deliveries_total',
  transportAcks: 'borealis_transport_acks_total',
  transportUnackedGroupMessages: 'borealis_transport_unacked_group_messages',
  transportUnackedGroupBytes: 'borealis_transport_unacked_group_bytes',
  transportUnackedGroupEvicted: 'borealis_transport_unacked_group_evicted_total',
  transportSlowReaderDrops: 'borealis_transport_slow_reader_drops_total',
  transportErrors: 'borealis_transport_errors_total',
  transportPresenceRepairs: 'borealis_transport_presence_repairs_total',
} as const;

export type MetricName = (typeof MetricNames)[keyof typeof MetricNames];

export type Collector = () => void | Promise<void>;

/**
 * The children of a labelled metric, made once per distinct label values (given in the order of
 * its label names) rather than per call. Only for labels with few values: codes, routes, methods.
 */
export function labelChildren<C>(metric: { labels(...values: string[]): C }): (...values: string[]) => C {
  const children = new Map<string, C>();
  return (...values) => {
    const key = values.join('\n');
    let child = children.get(key);
    if (child === undefined) {
      child = metric.labels(...values);
      children.set(key, child);
    }
    return child;
  };
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const DELIVERY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600];

/**
 * The process's Prometheus registry and typed handles on every Borealis metric. The platform
 * provides one instance per process (inject `Metrics`); services record on its counters and
 * gauges, or register a collector that sets gauges just before each scrape (for values that are
 * cheaper to read than to track, such as a count of pending rows).
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly collectors = new Set<Collector>();

  readonly httpRequests = new Counter({ name: MetricNames.httpRequests, help: 'HTTP requests answered, by method, route pattern and status code', labelNames: ['method', 'route', 'status'] as const, registers: [this.registry] });
  readonly httpRequestDuration = new Histogram({ name: MetricNames.httpRequestDuration, help: 'HTTP request duration in seconds, by method and route pattern', labelNames: ['method', 'route'] as const, buckets: LATENCY_BUCKETS, registers: [this.registry] });

  readonly busPublished = new Counter({ name: MetricNames.busPublished, help: 'Records published (acknowledged by the bus), by topic', labelNames: ['topic'] as const, registers: [this.registry] });
  readonly busPublishFailures = new Counter({ name: MetricNames.busPublishFailures, help: 'Records whose publish failed (the caller saw an error), by topic', labelNames: ['topic'] as const, registers: [this.registry] });
  readonly busConsumed = new Counter({ name: MetricNames.busConsumed, help: 'Records handed to a handler, by topic, consumer group and outcome (ok, failed: consumed again later)', labelNames: ['topic', 'group', 'outcome'] as const, registers: [this.registry] });
  readonly busHandlerDuration = new Histogram({ name: MetricNames.busHandlerDuration, help: 'Time to handle one batch, retries included, by topic and consumer group', labelNames: ['topic', 'group'] as const, buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly busHandlerRetries = new Counter({ name: MetricNames.busHandlerRetries, help: 'Handler attempts that failed with a retryable error, by topic and consumer group', labelNames: ['topic', 'group'] as const, registers: [this.registry] });
  readonly busDeadLetters = new Counter({ name: MetricNames.busDeadLetters, help: 'Records dead-lettered as bad input, by topic and consumer group', labelNames: ['topic', 'group'] as const, registers: [this.registry] });
  readonly busConsumerLag = new Gauge({ name: MetricNames.busConsumerLag, help: 'Records behind the high watermark after the last batch, by topic, consumer group and partition (Kafka only)', labelNames: ['topic', 'group', 'partition'] as const, registers: [this.registry] });

  readonly ready = new Gauge({ name: MetricNames.ready, help: 'Whether /readyz answers ready (1) or not (0)', registers: [this.registry] });

  readonly messagesAccepted = new Counter({ name: MetricNames.messagesAccepted, help: 'Push messages accepted by the gateway (durable in Kafka), by target type', labelNames: ['type'] as const, registers: [this.registry] });
  readonly messagesRejected = new Counter({ name: MetricNames.messagesRejected, help: 'Send requests refused by the gateway, by error code', labelNames: ['code'] as const, registers: [this.registry] });
  readonly deliveriesPending = new Gauge({ name: MetricNames.deliveriesPending, help: 'Deliveries stored and not yet delivered, expired, failed or cancelled', registers: [this.registry] });
  readonly deliveries = new Counter({ name: MetricNames.deliveries, help: 'Deliveries that reached a state, by state (sent, delivered, expired, failed, cancelled)', labelNames: ['state'] as const, registers: [this.registry] });
  readonly deliveryLatency = new Histogram({ name: MetricNames.deliveryLatency, help: 'Time from acceptance by the gateway to the device acknowledgement, in seconds', buckets: DELIVERY_BUCKETS, registers: [this.registry] });
  readonly deviceConnections = new Gauge({ name: MetricNames.deviceConnections, help: 'Open device connections on this transport instance, by protocol (tcp, ws)', labelNames: ['protocol'] as const, registers: [this.registry] });
  readonly devicesHeld = new Gauge({ name: MetricNames.devicesHeld, help: 'Authenticated devices held by this transport instance', registers: [this.registry] });
  readonly sourcesConnected = new Gauge({ name: MetricNames.sourcesConnected, help: 'Sources (IPv4 addresses, IPv6 /64 prefixes) with an open device connection on this transport instance', registers: [this.registry] });
  readonly transportConnectionEvents = new Counter({ name: MetricNames.transportConnectionEvents, help: 'Device connections accepted, rejected (admission control, draining), rejected_over_source_share (of the rejected, those whose source had used its share), upgrade_timed_out (WebSocket upgrades not completed by the Hello deadline) and closed, by event', labelNames: ['event'] as const, registers: [this.registry] });
  readonly transportFrames = new Counter({ name: MetricNames.transportFrames, help: 'Device protocol frames, by direction (in, out) and frame kind', labelNames: ['direction', 'kind'] as const, registers: [this.registry] });
  readonly transportDeliveries = new Counter({ name: MetricNames.transportDeliveries, help: 'Deliveries handled by this transport, by outcome (written, not_held, expired, queued, queued_unwritten, queued_cancelled)', labelNames: ['outcome'] as const, registers: [this.registry] });
  readonly transportAcks = new Counter({ name: MetricNames.transportAcks, help: 'Message ids acknowledged by devices', registers: [this.registry] });
  readonly transportUnackedGroupMessages = new Gauge({ name: MetricNames.transportUnackedGroupMessages, help: 'Group pushes this transport remembers as written and not yet acknowledged by every device', registers: [this.registry] });
  readonly transportUnackedGroupBytes = new Gauge({ name: MetricNames.transportUnackedGroupBytes, help: 'Memory those group pushes take (bounded by the transport, 32 MiB)', registers: [this.registry] });
  readonly transportUnackedGroupEvicted = new Counter({ name: MetricNames.transportUnackedGroupEvicted, help: 'Group pushes forgotten for the memory bound before every device acknowledged them (late Acks of them are ignored and the deliveries resent on reconnect)', registers: [this.registry] });
  readonly transportSlowReaderDrops = new Counter({ name: MetricNames.transportSlowReaderDrops, help: 'Connections cut because the device did not read its socket', registers: [this.registry] });
  readonly transportPresenceRepairs = new Counter({ name: MetricNames.transportPresenceRepairs, help: 'Presence refreshes of a connected device that found its route gone and set it again, announcing the device again (restored), or found another instance\'s route and left it (taken)', labelNames: ['outcome'] as const, registers: [this.registry] });
  readonly transportErrors = new Counter({ name: MetricNames.transportErrors, help: 'Error frames sent to devices by code, and handler faults (code internal_failure)', labelNames: ['code'] as const, registers: [this.registry] });

  /** `service` becomes a label on every series, so one dashboard can tell the services apart. */
  constructor(options: { service: string; processMetrics?: boolean }) {
    this.registry.setDefaultLabels({ service: options.service });
    if (options.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry });
      for (const name of UNBOUNDED_DEFAULT_METRICS) this.registry.removeSingleMetric(name);
    }
  }

  /** Relabels every series (default labels apply when scraped): the process's service name. */
  setService(service: string): void {
    this.registry.setDefaultLabels({ service });
  }

  /** Runs `collect` before every scrape; returns a function that removes it again. */
  registerCollector(collect: Collector): () => void {
    this.collectors.add(collect);
    return () => this.collectors.delete(collect);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text. A collector that fails leaves its gauges as they were. */
  async render(): Promise<string> {
    await Promise.allSettled([...this.collectors].map(async (collect) => collect()));
    return this.registry.metrics();
  }

  /** Records what the message bus reports. */
  busObserver(): BusObserver {
    return {
      published: (topic, records) => this.busPublished.inc({ topic }, records),
      publishFailed: (topic, records) => this.busPublishFailures.inc({ topic }, records),
      handled: (topic, group, records, seconds, outcome) => {
        this.busConsumed.inc({ topic, group, outcome }, records);
        this.busHandlerDuration.observe({ topic, group }, seconds);
      },
      retried: (topic, group) => this.busHandlerRetries.inc({ topic, group }),
      deadLettered: (topic, group, records) => this.busDeadLetters.inc({ topic, group }, records),
      lag: (topic, group, partition, records) => this.busConsumerLag.set({ topic, group, partition: String(partition) }, records),
    };
  }
}
