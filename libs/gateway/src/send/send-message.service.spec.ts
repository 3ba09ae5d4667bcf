import { DomainError, ErrorCode, Limits, Topics, type MessageAcceptedV1, type TopicDef } from '@borealis/contracts';
import { MemoryRateLimiter, RateLimiter, type RateLimitDecision } from '@borealis/keyvalue';
import { BusClient, InProcessMessageBus, REQUEST_ID_HEADER, type PublishRecord } from '@borealis/messaging';
import { Metrics, MetricNames } from '@borealis/platform';
import { deferred, FixedClock, isUuid } from '@borealis/util';
import type { GatewayModuleOptions } from '../gateway-options';
import { IdempotencyKeyReusedError } from '../idempotency/idempotency-key-reused';
import { IdempotencyStore, MemoryIdempotencyStore, type IdempotencyRecord } from '../idempotency/idempotency-store';
import { RequestLimits } from '../rate-limit/request-limits';
import { AcceptedPublisher } from './accepted-publisher';
import { SendMessageService } from './send-message.service';

const options: GatewayModuleOptions = {
  issuer: 'https://issuer',
  jwksUrl: 'https://issuer/jwks',
  audience: 'push',
  accessTokenTtlSeconds: 3600,
  rateLimit: { perSecond: 1, burst: 2 },
};
const body = { target: 'reg-1', type: 'device', ttl: '1h', notification: { title: 'T', message: 'M', data: { k: 1 } } };

class FailingBus extends InProcessMessageBus {
  failing = true;
  override async publish<T>(topic: TopicDef<T>, records: PublishRecord<T>[]): Promise<void> {
    if (this.failing && topic.name === Topics.messageAccepted.name) throw new Error('not enough in-sync replicas');
    return super.publish(topic, records);
  }
}

/** Holds the first accepted-message publish until `open()`. */
class GatedBus extends InProcessMessageBus {
  private readonly gate = deferred<void>();
  private readonly enteredSignal = deferred<void>();
  readonly entered = this.enteredSignal.promise;
  open = () => this.gate.resolve();
  override async publish<T>(topic: TopicDef<T>, records: PublishRecord<T>[]): Promise<void> {
    if (topic.name === Topics.messageAccepted.name) {
      this.enteredSignal.resolve();
      await this.gate.promise;
    }
    return super.publish(topic, records);
  }
}

class BrokenStore extends IdempotencyStore {
  async claim(): Promise<IdempotencyRecord> {
    throw new Error('redis down');
  }
  async complete(): Promise<void> {
    throw new Error('redis down');
  }
  async release(): Promise<void> {
    throw new Error('redis down');
  }
}

async function setup(bus = new InProcessMessageBus(), store?: IdempotencyStore, metrics?: Metrics) {
  const clock = new FixedClock(1_700_000_000_000);
  await bus.start();
  const accepted: MessageAcceptedV1[] = [];
  await bus.subscribe({ topic: Topics.messageAccepted, group: 'test', handler: async (messages) => void accepted.push(...messages.map((m) => m.value)) });
  const limits = new RequestLimits(new MemoryRateLimiter(clock), clock, options);
  const service = new SendMessageService(new AcceptedPublisher(new BusClient(bus)), limits, store ?? new MemoryIdempotencyStore(clock), clock, options, metrics);
  const decisions: RateLimitDecision[] = [];
  const send = (projectId = 'p1', payload: unknown = body, key?: string) => service.send(projectId, payload, { idempotencyKey: key, onRateLimit: (o) => decisions.push(o.decision) });
  return { bus, clock, accepted, decisions, send };
}

describe('SendMessageService', () => {
  it('counts accepted messages by target type and refused sends by error code', async () => {
    const metrics = new Metrics({ service: 'gateway', processMetrics: false });
    const { send } = await setup(undefined, undefined, metrics);
    await send();
    await send('p1', { ...body, type: 'topic', target: 'news' });
    await expect(send('p1', { ...body, ttl: 'forever' })).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
    // The bucket (burst 2) is empty now.
    await expect(send()).rejects.toMatchObject({ code: ErrorCode.RateLimited });
    const text = await metrics.render();
    expect(text).toContain(`${MetricNames.messagesAccepted}{type="device",service="gateway"} 1`);
    expect(text).toContain(`${MetricNames.messagesAccepted}{type="topic",service="gateway"} 1`);
    expect(text).toContain(`${MetricNames.messagesRejected}{code="invalid_argument",service="gateway"} 1`);
    expect(text).toContain(`${MetricNames.messagesRejected}{code="rate_limited",service="gateway"} 1`);
  });

  it('publishes a MessageAcceptedV1 with the request and its expiry, and returns its id', async () => {
    const { accepted, clock, send } = await setup();
    const { id, replayed } = await send();
    expect(isUuid(id)).toBe(true);
    expect(replayed).toBe(false);
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

  it('publishes group targets as they are', async () => {
    const { accepted, send } = await setup();
    await send('p1', { ...body, type: 'application', target: 'app_1' });
    await send('p1', { ...body, type: 'topic', target: 'news' });
    expect(accepted.map((m) => m.target)).toEqual([
      { type: 'application', value: 'app_1' },
      { type: 'topic', value: 'news' },
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

  describe("sendPreauthorized (the send route's fast path)", () => {
    async function fastSetup() {
      const clock = new FixedClock(1_700_000_000_000);
      const bus = new InProcessMessageBus();
      await bus.start();
      const published: PublishRecord<MessageAcceptedV1>[] = [];
      await bus.subscribe({ topic: Topics.messageAccepted, group: 'test', handler: async (messages) => void published.push(...messages.map((m) => ({ value: m.value, headers: m.headers }))) });
      const limits = new RequestLimits(new MemoryRateLimiter(clock), clock, { ...options, rateLimit: { perSecond: 1, burst: 5 }, ipRateLimit: { perSecond: 1, burst: 2 } });
      const service = new SendMessageService(new AcceptedPublisher(new BusClient(bus)), limits, new MemoryIdempotencyStore(clock), clock, options);
      const ip: RateLimitDecision[] = [];
      const project: RateLimitDecision[] = [];
      const context = (requestId: string) => ({ requestId, onIpOutcome: (o: { decision: RateLimitDecision }) => ip.push(o.decision), onRateLimit: (o: { decision: RateLimitDecision }) => project.push(o.decision) });
      return { service, limits, published, ip, project, context };
    }

    it('takes the IP and then the project limit, and publishes with the request id', async () => {
      const { service, published, ip, project, context } = await fastSetup();
      const { id } = await service.sendPreauthorized('p1', body, '10.0.0.1', context('req-1'))!;
      expect(published.map((r) => [r.value.messageId, r.headers?.[REQUEST_ID_HEADER]])).toEqual([[id, 'req-1']]);
      expect(ip.map((d) => [d.allowed, d.remaining])).toEqual([[true, 1]]);
      expect(project.map((d) => [d.allowed, d.remaining])).toEqual([[true, 4]]);
    });

    it("answers an IP over its limit with the IP's refusal and leaves the project's quota alone", async () => {
      const { service, limits, ip, project, context } = await fastSetup();
      await service.sendPreauthorized('p1', body, '10.0.0.1', context('a'));
      await service.sendPreauthorized('p1', body, '10.0.0.1', context('b'));
      const err = await service.sendPreauthorized('p1', body, '10.0.0.1', context('c'))!.catch((e: unknown) => e);
      expect(err).toMatchObject({ code: ErrorCode.RateLimited, message: 'too many requests from 10.0.0.1', details: { retryAfterSeconds: 1 } });
      expect(ip.map((d) => d.allowed)).toEqual([true, true, false]);
      expect(project.map((d) => d.remaining)).toEqual([4, 3]);
      // The project bucket still holds 3: the refused request took nothing from it.
      const left: RateLimitDecision[] = [];
      await limits.takeProject('p1', (o) => left.push(o.decision));
      expect(left[0]!.remaining).toBe(2);
    });

    it('takes nothing for an invalid body: the caller goes the usual way', async () => {
      const { service, ip, project, published, context } = await fastSetup();
      expect(service.sendPreauthorized('p1', { ...body, ttl: 'forever' }, '10.0.0.1', context('a'))).toBeUndefined();
      expect([ip, project, published]).toEqual([[], [], []]);
    });
  });

  it('keeps one bucket per project', async () => {
    const { send } = await setup();
    await send('p1');
    await send('p1');
    await expect(send('p2')).resolves.toHaveProperty('id');
  });

  it('validates before it spends a token', async () => {
    const { send, decisions } = await setup();
    await expect(send('p1', { ...body, type: 'broadcast' })).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
    expect(decisions).toHaveLength(0);
  });

  it('answers unavailable when the message cannot be made durable', async () => {
    const { send } = await setup(new FailingBus());
    await expect(send()).rejects.toMatchObject({ code: ErrorCode.Unavailable, details: { retryAfterSeconds: 1 } });
  });

  describe('Idempotency-Key', () => {
    it('answers a retry with the same id without publishing or spending quota again', async () => {
      const { send, accepted, decisions } = await setup();
      const first = await send('p1', body, 'key-1');
      const again = await send('p1', { ...body }, 'key-1');
      expect(again).toEqual({ id: first.id, replayed: true });
      expect(accepted).toHaveLength(1);
      expect(decisions).toHaveLength(1);
    });

    it('refuses the same key with another body (422 error), and keeps keys per project', async () => {
      const { send, accepted } = await setup();
      await send('p1', body, 'key-1');
      const err = await send('p1', { ...body, ttl: '2h' }, 'key-1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IdempotencyKeyReusedError);
      expect(err).toMatchObject({ code: ErrorCode.Conflict });
      await expect(send('p2', { ...body, ttl: '2h' }, 'key-1')).resolves.toMatchObject({ replayed: false });
      expect(accepted).toHaveLength(2);
    });

    it('lets a retry through after a failed attempt', async () => {
      const bus = new FailingBus();
      const { send, accepted } = await setup(bus);
      await expect(send('p1', body, 'key-1')).rejects.toMatchObject({ code: ErrorCode.Unavailable });
      bus.failing = false;
      await expect(send('p1', body, 'key-1')).resolves.toMatchObject({ replayed: false });
      expect(accepted).toHaveLength(1);
    });

    it('answers conflict (409) while the first request with the key is in flight', async () => {
      const bus = new GatedBus();
      const { send, accepted } = await setup(bus);
      const first = send('p1', body, 'key-1');
      await bus.entered;
      const err = await send('p1', body, 'key-1').catch((e: unknown) => e);
      expect(err).not.toBeInstanceOf(IdempotencyKeyReusedError);
      expect(err).toMatchObject({ code: ErrorCode.Conflict, details: { retryAfterSeconds: 1 } });
      bus.open();
      await expect(first).resolves.toMatchObject({ replayed: false });
      expect(accepted).toHaveLength(1);
    });

    it('refuses malformed keys and answers unavailable when the store fails', async () => {
      const { send } = await setup(new InProcessMessageBus(), new BrokenStore());
      for (const key of ['', 'with space', 'x'.repeat(256), 'tab\there', 'é']) {
        await expect(send('p1', body, key)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument, details: { fields: { 'Idempotency-Key': expect.any(String) } } });
      }
      await expect(send('p1', body, 'key-1')).rejects.toMatchObject({ code: ErrorCode.Unavailable });
      await expect(send('p1', body)).resolves.toHaveProperty('id');
    });
  });
});

describe('RequestLimits', () => {
  class DeadLimiter extends RateLimiter {
    calls = 0;
    async take(): Promise<RateLimitDecision> {
      this.calls++;
      throw new Error('ECONNREFUSED');
    }
  }

  it('fails open to a limiter in this process when the shared one fails, and probes it again later', async () => {
    const clock = new FixedClock(0);
    const dead = new DeadLimiter();
    const limits = new RequestLimits(dead, clock, options);
    const outcomes: boolean[] = [];
    const take = () => limits.takeProject('p1', (o) => outcomes.push(o.decision.allowed)).catch((e: unknown) => e);
    await take();
    await take();
    expect(await take()).toMatchObject({ code: ErrorCode.RateLimited });
    expect(outcomes).toEqual([true, true, false]);
    expect(dead.calls).toBe(1);
    clock.advance(5000);
    await take();
    expect(dead.calls).toBe(2);
  });
});

describe('AcceptedPublisher', () => {
  class SlowBus extends InProcessMessageBus {
    readonly batches: number[] = [];
    failNext = false;
    readonly headers: (Record<string, string> | undefined)[] = [];
    override async publish<T>(_topic: TopicDef<T>, records: PublishRecord<T>[]): Promise<void> {
      this.batches.push(records.length);
      this.headers.push(...records.map((r) => r.headers));
      await new Promise((resolve) => setImmediate(resolve));
      if (this.failNext) {
        this.failNext = false;
        throw new Error('broker down');
      }
    }
  }
  const event = (n: number) => ({ messageId: `m${n}`, projectId: 'p', target: { type: 'device' as const, value: 'r' }, notification: { title: '', message: '', data: null }, ttlSeconds: 1, priority: 'normal' as const, collapseKey: null, acceptedAtMs: 0, expiresAtMs: 1 });

  it('batches what arrives in one event-loop turn and while a publish is in flight', async () => {
    const bus = new SlowBus();
    const publisher = new AcceptedPublisher(new BusClient(bus));
    const first = Array.from({ length: 5 }, (_, i) => publisher.publish(event(i)));
    // Once the first batch is in flight, in a later turn:
    await new Promise((resolve) => setImmediate(resolve));
    const second = Array.from({ length: 15 }, (_, i) => publisher.publish(event(5 + i)));
    await Promise.all([...first, ...second]);
    expect(bus.batches).toEqual([5, 15]);
  });

  it('publishes each message with the request id of its own request, not of the one that drained the batch', async () => {
    const bus = new SlowBus();
    const publisher = new AcceptedPublisher(new BusClient(bus));
    await Promise.all([1, 2, 3].map((n) => publisher.publish(event(n), `req-${n}`)));
    expect(bus.batches).toEqual([3]);
    expect(bus.headers).toEqual([1, 2, 3].map((n) => ({ [REQUEST_ID_HEADER]: `req-${n}` })));
  });

  it('fails every caller of a failed batch', async () => {
    const bus = new SlowBus();
    bus.failNext = true;
    const publisher = new AcceptedPublisher(new BusClient(bus));
    const results = await Promise.allSettled([publisher.publish(event(1)), publisher.publish(event(2))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await expect(publisher.publish(event(3))).resolves.toBeUndefined();
    expect(bus.batches).toEqual([2, 1]);
  });
});
