import { keyFigures, parseExposition } from './operator-overview.service';

const GATEWAY = `# HELP borealis_gateway_messages_accepted_total Push messages accepted
# TYPE borealis_gateway_messages_accepted_total counter
borealis_gateway_messages_accepted_total{service="gateway",type="device"} 5
borealis_gateway_messages_accepted_total{service="gateway",type="topic"} 2
borealis_bus_consumer_lag_records{service="gateway",topic="t",group="g",partition="0"} 3
borealis_http_requests_total{service="gateway",method="GET",route="/x{y}",status="200"} 10
`;
const PUSH_CORE = `borealis_push_deliveries_total{service="push-core",state="delivered"} 4
borealis_push_deliveries_total{service="push-core",state="expired"} 1
borealis_push_deliveries_pending{service="push-core"} 6
borealis_bus_consumer_lag_records{service="push-core",topic="t",group="h",partition="1"} 4
not a sample line
borealis_weird{label="a \\"quoted\\" value"} NaN
`;
const TRANSPORT = 'borealis_transport_devices{service="transport"} 12\nborealis_transport_connections{service="transport",protocol="tcp"} 11\nborealis_transport_connections{service="transport",protocol="ws"} 1\n';

describe('the operator overview figures', () => {
  it('parses samples with their labels, skipping comments and lines it cannot read', () => {
    expect(parseExposition(GATEWAY)).toEqual([
      { name: 'borealis_gateway_messages_accepted_total', labels: { service: 'gateway', type: 'device' }, value: 5 },
      { name: 'borealis_gateway_messages_accepted_total', labels: { service: 'gateway', type: 'topic' }, value: 2 },
      { name: 'borealis_bus_consumer_lag_records', labels: { service: 'gateway', topic: 't', group: 'g', partition: '0' }, value: 3 },
      { name: 'borealis_http_requests_total', labels: { service: 'gateway', method: 'GET', route: '/x{y}', status: '200' }, value: 10 },
    ]);
    expect(parseExposition(PUSH_CORE).map((s) => s.name)).not.toContain('borealis_weird');
  });

  it('sums each figure over every service, by label where it has one, and gives 0 for what no service has', () => {
    expect(keyFigures([GATEWAY, PUSH_CORE, TRANSPORT, ''])).toEqual({
      pushesAccepted: 7,
      pushesRejected: 0,
      deliveriesPending: 6,
      deliveriesSent: 0,
      deliveriesDelivered: 4,
      deliveriesExpired: 1,
      deliveriesFailed: 0,
      deliveriesCancelled: 0,
      connectedDevices: 12,
      deviceConnections: 12,
      busConsumerLag: 7,
      busDeadLetters: 0,
      busPublishFailures: 0,
      httpRequests: 10,
    });
  });
});
