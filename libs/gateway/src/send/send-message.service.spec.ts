import { DomainError, ErrorCode, Limits, Topics, type MessageAcceptedV1, type TopicDef } from '@borealis/contracts';
import { MemoryRateLimiter, type RateLimitDecision } from '@borealis/keyvalue';
import { InProcessMessageBus, type PublishRecord } from '@borealis/messaging';
import { FixedClock, isUuid } from '@borealis/util';
import type { GatewayModuleOptions } from '../gateway-options';
import { ProjectRegistryView } from '../registry/project-registry.view';
import { SendMessageService } from './send-message.service';

const options: GatewayModuleOptions = {
  issuer: 'https://issuer',
  jwksUrl: 'https://issuer/jwks',
  audience: 'push',
  rateLimit: { perSecond: 1, burst: 2 },
};
const body = { target: 'reg-1', type: 'device', ttl: '1h', notification: { title: 'T', message: 'M', data: { k: 1 } } };

class FailingBus extends InProcessMessageBus {
  override async publish<T>(topic: TopicDef<T>, records: PublishRecord<T>[]): Promise<void> {
    if (topic.name === Topics.messageAccepted.name) throw new Error('not enough in-sync replicas');
    return super.publish(topic, records);
  }
}

async function setup(bus = new InProcessMessageBus()) {
  const clock = new FixedClock(1_700_000_000_000);
  const registry = new ProjectRegistryView(bus, options);
  await registry.onModuleInit();
  await bus.start();
  const accepted: MessageAcceptedV1[] = [];
  await bus.subscribe({ topic: Topics.messageAccepted, group: 'test', handler: async (messages) => void accepted.push(...messages.map((m) => m.value)) });
  const service = new SendMessageService(bus, new MemoryRateLimiter(clock), clock, registry, options);
  const decisions: RateLimitDecision[] = [];
  const send = (projectId = 'p1', payload: unknown = body) => service.send(projectId, payload, (d) => decisions.push(d));
  return { bus, clock, accepted, decisions, send };
}

async function project(bus: InProcessMessageBus, id: string, isActive: boolean) {
  await bus.publish(Topics.registry, [
    { value: { kind: 'project', project: { id, tenantId: 't', name: id, isActive, serviceAccount: null, createdAtMs: 1, updatedAtMs: 2 } } },
  ]);
}

describe('SendMessageService', () => {
  it('publishes a MessageAcceptedV1 with the request and its expiry, and returns its id', async () => {
    const { accepted, clock, send } = await setup();
    const { id } = await send();
    expect(isUuid(id)).toBe(true);
    expect(accepted).toEqual([
      {
        messageId: id,
        projectId: 'p1',
        target: { type: 'device', value: 'reg-1' },
        notification: { title: 'T', message: 'M', data: '{"k":1}' },
        ttlSeconds: 3600,
        priority: 'normal',
        collapseKey: null,
        acceptedAtMs: clock.now(),
        expiresAtMs: clock.now() + 3600_000,
      },
    ]);
  });

  it('uses the default TTL when none is given', async () => {
    const { accepted, send } = await setup();
    await send('p1', { ...body, ttl: undefined });
    expect(accepted[0]!.ttlSeconds).toBe(Limits.ttlDefaultSeconds);
  });

  it('refuses beyond the burst with retryAfterSeconds, reporting every decision', async () => {
    const { send, decisions, accepted, clock } = await setup();
    await send();
    await send();
    const err = await send().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect(err).toMatchObject({ code: ErrorCode.RateLimited, details: { retryAfterSeconds: 1 } });
    expect(decisions.map((d) => [d.allowed, d.remaining, d.limit])).toEqual([
      [true, 1, 2],
      [true, 0, 2],
      [false, 0, 2],
    ]);
    expect(accepted).toHaveLength(2);
    clock.advance(1000);
    await expect(send()).resolves.toHaveProperty('id');
  });

  it('keeps one bucket per project', async () => {
    const { send } = await setup();
    await send('p1');
    await send('p1');
    await expect(send('p2')).resolves.toHaveProperty('id');
  });

  it('validates before it spends a token', async () => {
    const { send, decisions } = await setup();
    await expect(send('p1', { ...body, type: 'topic' })).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
    expect(decisions).toHaveLength(0);
  });

  it('refuses a project that auth has deactivated', async () => {
    const { bus, send } = await setup();
    await project(bus, 'p-off', false);
    await project(bus, 'p-on', true);
    await expect(send('p-off')).rejects.toMatchObject({ code: ErrorCode.PermissionDenied, message: 'project p-off is inactive' });
    await expect(send('p-on')).resolves.toHaveProperty('id');
  });

  it('answers unavailable when the message cannot be made durable', async () => {
    const { send } = await setup(new FailingBus());
    await expect(send()).rejects.toMatchObject({ code: ErrorCode.Unavailable, details: { retryAfterSeconds: 1 } });
  });
});
