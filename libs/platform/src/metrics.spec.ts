import { labelChildren, Metrics, MetricNames, UNBOUNDED_DEFAULT_METRICS } from './metrics';

describe('Metrics', () => {
  it('exports every named metric with the service label and runs collectors before a scrape', async () => {
    const metrics = new Metrics({ service: 'gateway', processMetrics: false });
    let pending = 0;
    metrics.registerCollector(() => metrics.deliveriesPending.set(pending));
    const failing = metrics.registerCollector(() => Promise.reject(new Error('database down')));
    metrics.messagesAccepted.inc({ type: 'device' });
    pending = 7;
    const text = await metrics.render();
    for (const name of Object.values(MetricNames)) expect(text).toContain(`# TYPE ${name} `);
    expect(text).toContain(`${MetricNames.deliveriesPending}{service="gateway"} 7`);
    expect(text).toContain(`${MetricNames.messagesAccepted}{type="device",service="gateway"} 1`);
    failing();
    expect(metrics.contentType).toContain('text/plain');
  });

  it('records what the message bus reports', async () => {
    const metrics = new Metrics({ service: 'push-core', processMetrics: false });
    const observer = metrics.busObserver();
    observer.published('t', 3);
    observer.handled('t', 'g', 2, 0.01, 'ok');
    observer.deadLettered('t', 'g', 1);
    observer.lag('t', 'g', 4, 12);
    const text = await metrics.render();
    expect(text).toContain(`${MetricNames.busPublished}{topic="t",service="push-core"} 3`);
    expect(text).toContain(`${MetricNames.busConsumed}{topic="t",group="g",outcome="ok",service="push-core"} 2`);
    expect(text).toContain(`${MetricNames.busDeadLetters}{topic="t",group="g",service="push-core"} 1`);
    expect(text).toContain(`${MetricNames.busConsumerLag}{topic="t",group="g",partition="4",service="push-core"} 12`);
  });

  it('hands out one child per distinct label values, recording under those labels', async () => {
    const metrics = new Metrics({ service: 'gateway', processMetrics: false });
    const requests = labelChildren(metrics.httpRequests);
    expect(requests('POST', '/a', '200')).toBe(requests('POST', '/a', '200'));
    expect(requests('POST', '/a', '200')).not.toBe(requests('POST', '/a', '429'));
    requests('POST', '/a', '200').inc();
    requests('POST', '/a', '200').inc();
    requests('POST', '/a', '429').inc();
    const text = await metrics.render();
    expect(text).toContain(`${MetricNames.httpRequests}{method="POST",route="/a",status="200",service="gateway"} 2`);
    expect(text).toContain(`${MetricNames.httpRequests}{method="POST",route="/a",status="429",service="gateway"} 1`);
  });

  it('exports the process metrics but none that walks every open handle or file descriptor on a scrape', async () => {
    const text = await new Metrics({ service: 'transport' }).render();
    expect(text).toContain('# TYPE process_cpu_seconds_total ');
    expect(text).toContain('# TYPE nodejs_eventloop_lag_p99_seconds ');
    expect(text).toContain('# TYPE process_max_fds ');
    for (const name of UNBOUNDED_DEFAULT_METRICS) expect(text).not.toContain(`# TYPE ${name} `);
  });

  it('names every metric borealis_* in snake case', () => {
    for (const name of Object.values(MetricNames)) expect(name).toMatch(/^borealis_[a-z_]+$/);
  });
});
