import { createHash } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import {
  decodeMessageCursor,
  Topics,
  transportInboxTopic,
  type MessageListV1,
  type DeliveryCancelV1,
  type DeliveryReceiptV1,
  type DeliveryV1,
  type MessageAcceptedV1,
  type RegistrationReplyV1,
  type RegistrationRequestedV1,
  type TransportInboxV1,
} from '@borealis/contracts';
import { MemoryPresenceStore, MemoryRateLimiter, MemoryReplayGuard } from '@borealis/keyvalue';
import { InProcessMessageBus } from '@borealis/messaging';
import { configureHttpApp, createFastifyAdapter, Metrics, PlatformModule, startBusConsumers } from '@borealis/platform';
import { createTestDatabase, expectEventually, type TestDatabase } from '@borealis/testing';
import { FixedClock, randomToken, uuidv7 } from '@borealis/util';
import { MessageListQuery, MessageStatusQuery, ProjectStatsQuery, PushCoreModule, RegistrationQuery } from './index';
import { needsAnalyze, PlannerStatistics } from './maintenance/planner-statistics';
import { Sweeper } from './maintenance/sweeper';
import { DeliveryRepository } from './persistence/delivery.repository';
import { PushDb } from './persistence/push-db';
import { StatsRepository } from './persistence/stats.repository';

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3600_000;
const DAY = 24 * HOUR;
const INSTANCES = ['t-1', 't-2'] as const;

const clock = new FixedClock(T0);
const bus = new InProcessMessageBus({ maxAttempts: 3, retryBaseMs: 1 });
const presence = new MemoryPresenceStore(clock);
const inbox = new Map<string, TransportInboxV1[]>(INSTANCES.map((id) => [id, []]));

let database: TestDatabase;
let app: NestFastifyApplication;
let statuses: MessageStatusQuery;
let stats: ProjectStatsQuery;
let sweeper: Sweeper;
let dataSource: DataSource;

// Registry: p1 (active) with app a1 and an app that gets deactivated; p2 (active) with app a2.
const p1 = `p1-${randomToken(4)}`;
const p2 = `p2-${randomToken(4)}`;
const a1 = `a1-${randomToken(4)}`;
const a2 = `a2-${randomToken(4)}`;
const aOff = `aoff-${randomToken(4)}`;

beforeAll(async () => {
  database = await createTestDatabase('core');
  for (const instanceId of INSTANCES) {
    await bus.subscribe({
      topic: transportInboxTopic(instanceId),
      group: `test.${instanceId}`,
      handler: async (messages) => void inbox.get(instanceId)!.push(...messages.map((m) => m.value)),
    });
  }
  const moduleRef = await Test.createTestingModule({
    imports: [
      PlatformModule.register({ bus, presence, rateLimiter: new MemoryRateLimiter(clock), replayGuard: new MemoryReplayGuard(clock), clock }),
      PushCoreModule.register({
        databaseUrl: database.url,
        exposeInternalApi: true,
        consumerGroupPrefix: 'test.push-core',
        // Small chunks so that fan-outs take several steps; sweeps run when a test says so.
        fanOutChunkSize: 2,
        sweepIntervalMs: 600_000,
        retentionMs: DAY,
        staleRegistrationMs: 30 * DAY,
        unconfirmedRegistrationMs: 2 * DAY,
      }),
    ],
  }).compile();
  app = moduleRef.createNestApplication<NestFastifyApplication>(createFastifyAdapter(), { logger: false, bodyParser: false });
  configureHttpApp(app);
  await startBusConsumers(app);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  statuses = app.get(MessageStatusQuery);
  stats = app.get(ProjectStatsQuery);
  sweeper = app.get(Sweeper);
  dataSource = app.get<DataSource>(getDataSourceToken('push-core'));

  await bus.publish(Topics.registry, [
    project(p1, true, 1),
    project(p2, true, 1),
    application(a1, p1, true, 1),
    application(a2, p2, true, 1),
    application(aOff, p1, true, 1),
  ]);
});

afterAll(async () => {
  await app?.close();
  await database?.drop();
});

beforeEach(() => {
  clock.set(T0);
  for (const list of inbox.values()) list.length = 0;
});

function project(id: string, isActive: boolean, updatedAtMs: number) {
  return { value: { kind: 'project' as const, project: { id, tenantId: 'tenant-1', name: id, isActive, serviceAccount: null, createdAtMs: 0, updatedAtMs } } };
}

function application(id: string, projectId: string, isActive: boolean, updatedAtMs: number) {
  return { value: { kind: 'application' as const, application: { id, projectId, name: id, isActive, createdAtMs: 0, updatedAtMs } } };
}

function newDevice(): string {
  return `dev-${randomToken(6)}`;
}

function replies(): RegistrationReplyV1[] {
  return [...inbox.values()].flat().filter((m): m is RegistrationReplyV1 => m.kind === 'registration.reply');
}

function deliveries(instanceId: string): DeliveryV1[] {
  return inbox.get(instanceId)!.filter((m): m is DeliveryV1 => m.kind === 'deliver');
}

/** Publishing in process returns once push-core has handled the request and replied. */
async function request(fields: Partial<RegistrationRequestedV1> & Pick<RegistrationRequestedV1, 'deviceId' | 'op'>): Promise<RegistrationReplyV1> {
  const value: RegistrationRequestedV1 = { correlationId: uuidv7(), replyTo: 't-1', applicationId: '', registrationId: '', deviceUser: '', topics: [], atMs: clock.now(), ...fields };
  await bus.publish(Topics.registrationRequested, [{ value }]);
  const reply = replies().findLast((r) => r.correlationId === value.correlationId);
  if (!reply) throw new Error(`no reply to ${value.correlationId}`);
  return reply;
}

async function register(deviceId: string, applicationId: string, registrationId = ''): Promise<string> {
  const reply = await request({ deviceId, op: 'register', applicationId, registrationId });
  expect(reply).toMatchObject({ ok: true });
  return reply.registrationId;
}

function accepted(projectId: string, target: MessageAcceptedV1['target'], ttlMs = HOUR): MessageAcceptedV1 {
  return {
    messageId: uuidv7(clock.now()),
    projectId,
    target,
    notification: { title: 'Hello', message: 'World', data: '{"k":1}' },
    ttlSeconds: ttlMs / 1000,
    priority: 'normal',
    collapseKey: null,
    acceptedAtMs: clock.now(),
    expiresAtMs: clock.now() + ttlMs,
  };
}

async function send(message: MessageAcceptedV1): Promise<string> {
  await bus.publish(Topics.messageAccepted, [{ value: message }]);
  return message.messageId;
}

async function receipt(status: DeliveryReceiptV1['status'], deviceId: string, instanceId: string, messageIds: string[]): Promise<void> {
  await bus.publish(Topics.deliveryReceipts, [{ value: { status, deviceId, instanceId, messageIds, atMs: clock.now() } }]);
}

async function connect(deviceId: string, instanceId: string): Promise<void> {
  await presence.set(deviceId, instanceId, 3600);
  await bus.publish(Topics.deviceEvents, [{ value: { kind: 'connected' as const, deviceId, instanceId, atMs: clock.now() } }]);
}

/** Group fan-outs run in the background: wait until the message's job is done. */
async function fannedOut(messageId: string): Promise<void> {
  await expectEventually(async () => {
    const [{ n }] = await dataSource.query('SELECT count(*)::int AS n FROM fanout_jobs WHERE message_id = $1', [messageId]);
    expect(n).toBe(0);
  });
}

async function deliveryRows(messageId: string): Promise<{ registration_id: string; state: string }[]> {
  return dataSource.query('SELECT registration_id, state FROM deliveries WHERE message_id = $1', [messageId]);
}

describe('registrations (Aurora registrate)', () => {
  it('issues an unguessable registrationId, confirms it, and replaces a stale one', async () => {
    const device = newDevice();
    const first = await request({ deviceId: device, op: 'register', applicationId: a1 });
    expect(first).toMatchObject({ ok: true, isNew: true, applicationId: a1, deviceId: device, errorCode: null });
    expect(Buffer.from(first.registrationId, 'base64url').length).toBeGreaterThanOrEqual(16);

    const again = await request({ deviceId: device, op: 'register', applicationId: a1, registrationId: first.registrationId });
    expect(again).toMatchObject({ ok: true, isNew: false, registrationId: first.registrationId });

    const stale = await request({ deviceId: device, op: 'register', applicationId: a1, registrationId: 'stale-or-forged' });
    expect(stale).toMatchObject({ ok: true, isNew: true });
    expect(stale.registrationId).not.toBe(first.registrationId);

    // The replaced registration is no longer live: confirming it now issues yet another one.
    const old = await request({ deviceId: device, op: 'register', applicationId: a1, registrationId: first.registrationId });
    expect(old.isNew).toBe(true);
    expect([first.registrationId, stale.registrationId]).not.toContain(old.registrationId);
  });

  it('does not confirm a registration held by another device', async () => {
    const owner = newDevice();
    const id = await register(owner, a1);
    const thief = await request({ deviceId: newDevice(), op: 'register', applicationId: a1, registrationId: id });
    expect(thief).toMatchObject({ ok: true, isNew: true });
    expect(thief.registrationId).not.toBe(id);
    expect((await request({ deviceId: owner, op: 'register', applicationId: a1, registrationId: id })).isNew).toBe(false);
  });

  it('keeps one live registration per (device, user, app): two users of one device do not retire each other', async () => {
    const device = newDevice();
    const alice = await request({ deviceId: device, op: 'register', applicationId: a1, deviceUser: '1001' });
    const bob = await request({ deviceId: device, op: 'register', applicationId: a1, deviceUser: '1002' });
    const single = await request({ deviceId: device, op: 'register', applicationId: a1 });
    expect([alice.isNew, bob.isNew, single.isNew]).toEqual([true, true, true]);
    expect(new Set([alice.registrationId, bob.registrationId, single.registrationId]).size).toBe(3);
    // Each is still live: confirmed, not replaced.
    expect(await request({ deviceId: device, op: 'register', applicationId: a1, deviceUser: '1001', registrationId: alice.registrationId })).toMatchObject({ isNew: false, registrationId: alice.registrationId });
    expect(await request({ deviceId: device, op: 'register', applicationId: a1, registrationId: single.registrationId })).toMatchObject({ isNew: false });
    // One user's registrationId does not confirm for another user: that user gets its own (and bob's ends).
    const stolen = await request({ deviceId: device, op: 'register', applicationId: a1, deviceUser: '1002', registrationId: alice.registrationId });
    expect(stolen).toMatchObject({ ok: true, isNew: true });
    expect([alice.registrationId, bob.registrationId]).not.toContain(stolen.registrationId);
    expect(await request({ deviceId: device, op: 'register', applicationId: a1, deviceUser: '1001', registrationId: alice.registrationId })).toMatchObject({ isNew: false });
  });

  it('answers a redelivered request with the same registration', async () => {
    const value: RegistrationRequestedV1 = {
      correlationId: uuidv7(),
      replyTo: 't-2',
      deviceId: newDevice(),
      op: 'register',
      applicationId: a1,
      deviceUser: '',
      registrationId: '',
      topics: [],
      atMs: clock.now(),
    };
    await bus.publish(Topics.registrationRequested, [{ value }]);
    await bus.publish(Topics.registrationRequested, [{ value }]);
    const answers = inbox.get('t-2')!.filter((m) => m.kind === 'registration.reply');
    expect(answers).toHaveLength(2);
    expect(answers[1]).toEqual(answers[0]);
    const [{ n }] = await dataSource.query('SELECT count(*)::int AS n FROM registrations WHERE device_id = $1', [value.deviceId]);
    expect(n).toBe(1);
  });

  it('refuses unknown and inactive applications, and ignores registry events older than the view', async () => {
    expect(await request({ deviceId: newDevice(), op: 'register', applicationId: 'no-such-app' })).toMatchObject({ ok: false, errorCode: 'not_found', registrationId: '' });

    await bus.publish(Topics.registry, [application(aOff, p1, false, 5)]);
    expect(await request({ deviceId: newDevice(), op: 'register', applicationId: aOff })).toMatchObject({ ok: false, errorCode: 'failed_precondition' });

    await bus.publish(Topics.registry, [application(aOff, p1, true, 4)]);
    expect(await request({ deviceId: newDevice(), op: 'register', applicationId: aOff })).toMatchObject({ ok: false, errorCode: 'failed_precondition' });
  });

  it('unregisters only a registration of this device, and fails its pending deliveries', async () => {
    const device = newDevice();
    const id = await register(device, a1);
    expect(await request({ deviceId: newDevice(), op: 'unregister', registrationId: id })).toMatchObject({ ok: false, errorCode: 'not_found' });

    const messageId = await send(accepted(p1, { type: 'device', value: id }));
    expect(await request({ deviceId: device, op: 'unregister', registrationId: id })).toMatchObject({ ok: true, registrationId: id, applicationId: a1 });
    expect(await statuses.getStatus(p1, messageId)).toMatchObject({ state: 'failed', counts: { failed: 1, pending: 0 } });
  });

  it('stores topic subscriptions with valid names only', async () => {
    const device = newDevice();
    const id = await register(device, a1);
    expect(await request({ deviceId: device, op: 'subscribe', registrationId: id, topics: ['news', 'sport', 'news'] })).toMatchObject({ ok: true });
    expect(await request({ deviceId: device, op: 'subscribe', registrationId: id, topics: ['bad topic'] })).toMatchObject({ ok: false, errorCode: 'invalid_argument' });
    expect(await request({ deviceId: newDevice(), op: 'subscribe', registrationId: id, topics: ['x'] })).toMatchObject({ ok: false, errorCode: 'not_found' });
    expect(await request({ deviceId: device, op: 'unsubscribe', registrationId: id, topics: ['sport'] })).toMatchObject({ ok: true });
    const rows: { topic: string }[] = await dataSource.query('SELECT topic FROM registration_topics WHERE registration_id = $1', [id]);
    expect(rows.map((r) => r.topic)).toEqual(['news']);
  });

  it('dead-letters a request whose reply address is not a transport instance', async () => {
    const before = bus.deadLetters.length;
    const correlationId = uuidv7();
    await bus.publish(Topics.registrationRequested, [
      { value: { correlationId, replyTo: 'Not_An_Instance', deviceId: newDevice(), op: 'register', applicationId: a1, registrationId: '', deviceUser: '', topics: [], atMs: 0 } },
    ]);
    expect(bus.deadLetters.slice(before)).toEqual([expect.objectContaining({ consumerGroup: 'test.push-core.registrations', reason: expect.stringContaining('replyTo') })]);
  });
});

describe('messages and deliveries', () => {
  it('routes a message to an online device and follows its receipts to delivered', async () => {
    const device = newDevice();
    const registrationId = await register(device, a1);
    await presence.set(device, 't-1', 3600);

    const message = accepted(p1, { type: 'device', value: registrationId });
    await send(message);
    expect(deliveries('t-1')).toEqual([
      {
        kind: 'deliver',
        messageId: message.messageId,
        deviceId: device,
        applicationId: a1,
        registrationId,
        title: 'Hello',
        message: 'World',
        data: '{"k":1}',
        sentAtMs: T0,
        expiresAtMs: message.expiresAtMs,
        priority: 'normal',
      },
    ]);
    expect(await statuses.getStatus(p1, message.messageId)).toMatchObject({ state: 'stored', counts: { pending: 1 } });

    clock.advance(1000);
    await receipt('sent', device, 't-1', [message.messageId]);
    expect(await statuses.getStatus(p1, message.messageId)).toMatchObject({ state: 'sent', counts: { pending: 0, sent: 1 } });

    clock.advance(1000);
    await receipt('delivered', device, 't-1', [message.messageId]);
    expect(await statuses.getStatus(p1, message.messageId)).toEqual({
      id: message.messageId,
      projectId: p1,
      state: 'delivered',
      target: { type: 'device', value: registrationId },
      createdAt: new Date(T0).toISOString(),
      expiresAt: new Date(message.expiresAtMs).toISOString(),
      cancelledAt: null,
      sendAt: null,
      counts: { pending: 0, sent: 0, delivered: 1, expired: 0, failed: 0, cancelled: 0 },
      recipients: [{ registrationId, state: 'delivered', updatedAt: new Date(T0 + 2000).toISOString() }],
    });

    // Terminal: a late not_held or sent receipt changes nothing.
    await receipt('not_held', device, 't-1', [message.messageId]);
    await receipt('sent', device, 't-1', [message.messageId]);
    expect(await deliveryRows(message.messageId)).toEqual([{ registration_id: registrationId, state: 'delivered' }]);
  });

  it('counts state changes in the Prometheus metrics once, after they committed', async () => {
    const metrics = app.get(Metrics);
    const count = async (state: string) => (await metrics.deliveries.get()).values.find((v) => v.labels['state'] === state)?.value ?? 0;
    const latencyCount = async () => (await metrics.deliveryLatency.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
    const before = { sent: await count('sent'), delivered: await count('delivered'), latency: await latencyCount() };

    const device = newDevice();
    const registrationId = await register(device, a1);
    await presence.set(device, 't-1', 3600);
    const message = accepted(p1, { type: 'device', value: registrationId });
    await send(message);
    await receipt('sent', device, 't-1', [message.messageId]);
    await receipt('delivered', device, 't-1', [message.messageId]);
    // A redelivered receipt changes no row, so it counts nothing.
    await receipt('delivered', device, 't-1', [message.messageId]);

    expect(await count('sent')).toBe(before.sent + 1);
    expect(await count('delivered')).toBe(before.delivered + 1);
    expect(await latencyCount()).toBe(before.latency + 1);
    // The pending gauge is read from the Push DB on each scrape: one more for an offline device.
    await send(accepted(p1, { type: 'device', value: await register(newDevice(), a1) }));
    const openRows = await dataSource.query('SELECT count(*)::int AS n FROM deliveries WHERE state IN ($1, $2)', ['pending', 'sent']);
    expect(openRows[0].n).toBeGreaterThan(0);
    expect(await metrics.render()).toMatch(new RegExp(`^borealis_push_deliveries_pending(\\{[^}]*\\})? ${openRows[0].n}$`, 'm'));
  });

  it('keeps a message for an offline device pending and sends it, in order, when the device connects', async () => {
    const device = newDevice();
    const registrationId = await register(device, a1);
    const first = await send(accepted(p1, { type: 'device', value: registrationId }));
    clock.advance(10);
    const second = await send(accepted(p1, { type: 'device', value: registrationId }));
    const shortLived = await send(accepted(p1, { type: 'device', value: registrationId }, 1000));
    expect(deliveries('t-1')).toEqual([]);
    expect(await statuses.getStatus(p1, first)).toMatchObject({ state: 'stored', recipients: [{ registrationId, state: 'pending' }] });

    clock.advance(5000);
    await connect(device, 't-2');
    expect(deliveries('t-2').map((d) => d.messageId)).toEqual([first, second]);
    expect(await deliveryRows(shortLived)).toEqual([{ registration_id: registrationId, state: 'expired' }]);
    expect(await statuses.getStatus(p1, shortLived)).toMatchObject({ state: 'expired' });
  });

  it('resends a sent but unacknowledged delivery when the device connects again', async () => {
    const device = newDevice();
    const registrationId = await register(device, a1);
    await presence.set(device, 't-1', 3600);
    const messageId = await send(accepted(p1, { type: 'device', value: registrationId }));
    await receipt('sent', device, 't-1', [messageId]);

    await bus.publish(Topics.deviceEvents, [{ value: { kind: 'disconnected' as const, deviceId: device, instanceId: 't-1', atMs: clock.now() } }]);
    expect(deliveries('t-2')).toEqual([]);
    await connect(device, 't-2');
    expect(deliveries('t-2').map((d) => d.messageId)).toEqual([messageId]);
    expect(await deliveryRows(messageId)).toEqual([{ registration_id: registrationId, state: 'sent' }]);
  });

  it('changes nothing when the same accepted message is delivered again', async () => {
    const device = newDevice();
    const registrationId = await register(device, a1);
    const message = accepted(p1, { type: 'device', value: registrationId });
    await send(message);
    await send(message);
    expect(await deliveryRows(message.messageId)).toEqual([{ registration_id: registrationId, state: 'pending' }]);
    const [{ n }] = await dataSource.query('SELECT count(*)::int AS n FROM messages WHERE id = $1', [message.messageId]);
    expect(n).toBe(1);
  });

  it('routes a redelivered message again from its stored delivery while it is pending (an earlier attempt may have stopped before routing)', async () => {
    const device = newDevice();
    const registrationId = await register(device, a1);
    await presence.set(device, 't-1', 3600);
    const message = accepted(p1, { type: 'device', value: registrationId });
    clock.advance(5);
    const fresh = accepted(p1, { type: 'device', value: registrationId });
    await send(message);
    // The same message again, in a batch with a new one: read back from the Push DB, both routed.
    await bus.publish(Topics.messageAccepted, [{ value: message }, { value: fresh }]);
    expect(deliveries('t-1').map((d) => d.messageId)).toEqual([message.messageId, message.messageId, fresh.messageId]);
  });

  it('routes a fresh batch from what it stored, as the Push DB would answer: per device high priority first, then acceptance order; not a scheduled or collapsed one', async () => {
    const [x, y] = [newDevice(), newDevice()];
    const [rx, ry] = [await register(x, a1), await register(y, a1)];
    await presence.set(x, 't-1', 3600);
    await presence.set(y, 't-1', 3600);
    const m1 = accepted(p1, { type: 'device', value: rx });
    clock.advance(1);
    const m2 = { ...accepted(p1, { type: 'device', value: rx }), priority: 'high' as const, notification: { title: 'T2', message: 'M2', data: null } };
    const m3 = { ...accepted(p1, { type: 'registrations', value: '2' }), registrationIds: [ry, rx] };
    clock.advance(1);
    const scheduled = { ...accepted(p1, { type: 'device', value: ry }), sendAtMs: clock.now() + HOUR };
    const older = { ...accepted(p1, { type: 'device', value: ry }), collapseKey: 'score' };
    clock.advance(1);
    const newer = { ...accepted(p1, { type: 'device', value: ry }), collapseKey: 'score' };
    const batch = [m1, m2, m3, scheduled, older, newer];
    await bus.publish(Topics.messageAccepted, batch.map((value) => ({ value })));
    const ids = batch.map((m) => m.messageId);
    const stored = await app.get(DeliveryRepository).outboundOfMessages(app.get(PushDb).sql, ids, ['pending'], clock.now());
    await expectEventually(() => expect(deliveries('t-1')).toHaveLength(stored.length));
    const routed = deliveries('t-1');
    const perDevice = (deviceId: string, list: { deviceId: string; messageId: string }[]) => list.filter((d) => d.deviceId === deviceId).map((d) => d.messageId);
    expect(perDevice(x, routed)).toEqual([m2.messageId, m1.messageId, m3.messageId]);
    expect(perDevice(y, routed)).toEqual([m3.messageId, newer.messageId]);
    for (const device of [x, y]) expect(perDevice(device, routed)).toEqual(perDevice(device, stored));
    const m2Routed = routed.find((d) => d.messageId === m2.messageId)!;
    expect(m2Routed).toMatchObject({ title: 'T2', message: 'M2', priority: 'high', expiresAtMs: m2.expiresAtMs, applicationId: a1, registrationId: rx });
    expect(m2Routed.data).toBeNull();
    expect(routed.find((d) => d.messageId === m1.messageId)).toMatchObject({ title: 'Hello', message: 'World', data: '{"k":1}', priority: 'normal' });
    expect(await deliveryRows(older.messageId)).toEqual([{ registration_id: ry, state: 'expired' }]);
  });

  it('never routes a message that expired before it was stored', async () => {
    const device = newDevice();
    const registrationId = await register(device, a1);
    await presence.set(device, 't-1', 3600);
    const message = { ...accepted(p1, { type: 'device', value: registrationId }), expiresAtMs: T0 - 1 };
    await send(message);
    expect(deliveries('t-1')).toEqual([]);
    expect(await deliveryRows(message.messageId)).toEqual([]);
    expect(await statuses.getStatus(p1, message.messageId)).toMatchObject({ state: 'expired', recipients: [] });
  });

  it('fails a message to a registration of another project without leaking it', async () => {
    const device = newDevice();
    const foreign = await register(device, a2);
    await presence.set(device, 't-1', 3600);
    const messageId = await send(accepted(p1, { type: 'device', value: foreign }));
    expect(deliveries('t-1')).toEqual([]);
    expect(await statuses.getStatus(p1, messageId)).toMatchObject({ state: 'failed', recipients: [], counts: { pending: 0, failed: 0 } });
    expect(await statuses.getStatus(p2, messageId)).toBeNull();
  });

  it('returns null for a message asked for under the wrong project', async () => {
    const registrationId = await register(newDevice(), a1);
    const messageId = await send(accepted(p1, { type: 'device', value: registrationId }));
    expect(await statuses.getStatus(p1, messageId)).not.toBeNull();
    expect(await statuses.getStatus(p2, messageId)).toBeNull();
    expect(await statuses.getStatus(p1, uuidv7())).toBeNull();
  });

  it('makes a not_held delivery pending again and re-routes it where presence now points', async () => {
    const device = newDevice();
    const registrationId = await register(device, a1);
    await presence.set(device, 't-1', 3600);
    const messageId = await send(accepted(p1, { type: 'device', value: registrationId }));
    await receipt('sent', device, 't-1', [messageId]);

    // Presence still names t-1: no resend to the instance that just said it does not hold the device.
    await receipt('not_held', device, 't-1', [messageId]);
    expect(await deliveryRows(messageId)).toEqual([{ registration_id: registrationId, state: 'pending' }]);
    expect(deliveries('t-1')).toHaveLength(1);

    await presence.set(device, 't-2', 3600);
    await receipt('not_held', device, 't-1', [messageId]);
    expect(deliveries('t-2').map((d) => d.messageId)).toEqual([messageId]);
    expect(await statuses.getStatus(p1, messageId)).toMatchObject({ state: 'stored', counts: { pending: 1 } });
  });

  it('counts receipts only for deliveries of the reporting device', async () => {
    const registrationId = await register(newDevice(), a1);
    const messageId = await send(accepted(p1, { type: 'device', value: registrationId }));
    await receipt('delivered', newDevice(), 't-1', [messageId]);
    expect(await deliveryRows(messageId)).toEqual([{ registration_id: registrationId, state: 'pending' }]);
  });

  it('fans out to every registration of an application and to the subscribers of a topic, within the project', async () => {
    const app = `afan-${randomToken(4)}`;
    await bus.publish(Topics.registry, [application(app, p1, true, 1)]);
    const [d1, d2, d3] = [newDevice(), newDevice(), newDevice()];
    const r1 = await register(d1, app);
    const r2 = await register(d2, app);
    const r3 = await register(d3, a2);
    await request({ deviceId: d2, op: 'subscribe', registrationId: r2, topics: ['fanout-topic'] });
    await request({ deviceId: d3, op: 'subscribe', registrationId: r3, topics: ['fanout-topic'] });
    await presence.set(d1, 't-1', 3600);

    const toApp = await send(accepted(p1, { type: 'application', value: app }));
    await fannedOut(toApp);
    const recipients = (await statuses.getStatus(p1, toApp))!.recipients.map((r) => r.registrationId);
    expect(recipients.sort()).toEqual([r1, r2].sort());
    expect(deliveries('t-1').map((d) => [d.messageId, d.registrationId])).toEqual([[toApp, r1]]);

    const toTopic = await send(accepted(p1, { type: 'topic', value: 'fanout-topic' }));
    await fannedOut(toTopic);
    expect((await statuses.getStatus(p1, toTopic))!.recipients.map((r) => r.registrationId)).toEqual([r2]);

    const toForeignApp = await send(accepted(p1, { type: 'application', value: a2 }));
    expect(await statuses.getStatus(p1, toForeignApp)).toMatchObject({ state: 'failed', recipients: [] });

    const toNobody = await send(accepted(p1, { type: 'topic', value: 'no-subscribers' }));
    await fannedOut(toNobody);
    expect(await statuses.getStatus(p1, toNobody)).toMatchObject({ state: 'failed', recipients: [] });
  });

  it('streams a fan-out in chunks: every registration gets one delivery, online ones are routed', async () => {
    const app = `abig-${randomToken(4)}`;
    await bus.publish(Topics.registry, [application(app, p1, true, 1)]);
    const devices = Array.from({ length: 7 }, () => newDevice());
    const registrations = new Map<string, string>();
    for (const device of devices) registrations.set(await register(device, app), device);
    for (const device of devices.slice(0, 3)) await presence.set(device, 't-2', 3600);

    const messageId = await send(accepted(p1, { type: 'application', value: app }));
    await send(accepted(p1, { type: 'application', value: app }));
    await fannedOut(messageId);
    const rows = await deliveryRows(messageId);
    expect(rows.map((r) => r.registration_id).sort()).toEqual([...registrations.keys()].sort());
    expect(deliveries('t-2').filter((d) => d.messageId === messageId).map((d) => d.deviceId).sort()).toEqual(devices.slice(0, 3).sort());
    expect(await statuses.getStatus(p1, messageId)).toMatchObject({ state: 'stored', counts: { pending: 7 } });
  });

  it('stores a mixed batch of listed messages as one statement would have to: each outcome, each delivery, each count, once', async () => {
    const p7 = `p7-${randomToken(4)}`;
    const a7 = `a7-${randomToken(4)}`;
    await bus.publish(Topics.registry, [project(p7, true, 1), application(a7, p7, true, 1)]);
    const [x, y] = [newDevice(), newDevice()];
    const [rx, ry] = [await register(x, a7), await register(y, a7)];
    const foreignRegistration = await register(newDevice(), a1);
    const unknownProject = accepted(`p-unknown-${randomToken(4)}`, { type: 'device', value: rx });
    const expired = { ...accepted(p7, { type: 'device', value: rx }), expiresAtMs: clock.now() - 1 };
    const multicast = { ...accepted(p7, { type: 'registrations', value: '4' }), registrationIds: [rx, foreignRegistration, 'no-such-registration', ry] };
    const unreachable = { ...accepted(p7, { type: 'registrations', value: '1' }), registrationIds: [foreignRegistration] };
    const plain = accepted(p7, { type: 'device', value: ry });
    const batch = [unknownProject, expired, multicast, unreachable, plain];
    await bus.publish(Topics.messageAccepted, batch.map((value) => ({ value })));
    await bus.publish(Topics.messageAccepted, batch.map((value) => ({ value })));

    expect(await statuses.getStatus(unknownProject.projectId, unknownProject.messageId)).toMatchObject({ state: 'failed', recipients: [] });
    expect(await statuses.getStatus(p7, expired.messageId)).toMatchObject({ state: 'expired', recipients: [] });
    expect(await statuses.getStatus(p7, unreachable.messageId)).toMatchObject({ state: 'failed', recipients: [] });
    const byRegistration = (a: { registration_id: string }, b: { registration_id: string }) => (a.registration_id < b.registration_id ? -1 : 1);
    expect((await deliveryRows(multicast.messageId)).sort(byRegistration)).toEqual([rx, ry].map((registration_id) => ({ registration_id, state: 'pending' })).sort(byRegistration));
    expect(await deliveryRows(plain.messageId)).toEqual([{ registration_id: ry, state: 'pending' }]);
    const day = new Date(T0).toISOString().slice(0, 10);
    expect((await stats.getStats(p7, day, day)).days).toEqual([{ date: day, accepted: 4, delivered: 0, expired: 1, failed: 1, cancelled: 0 }]);
    expect((await stats.getStats(unknownProject.projectId, day, day)).days).toEqual([{ date: day, accepted: 1, delivered: 0, expired: 0, failed: 1, cancelled: 0 }]);
  });

  it('fails messages of an unknown project', async () => {
    const messageId = await send(accepted('no-such-project', { type: 'application', value: a1 }));
    expect(await statuses.getStatus('no-such-project', messageId)).toMatchObject({ state: 'failed' });
  });
});

describe('internal status API', () => {
  it('serves a status as JSON and 404s a message of another project', async () => {
    const registrationId = await register(newDevice(), a1);
    const messageId = await send(accepted(p1, { type: 'device', value: registrationId }));

    const ok = await app.inject({ method: 'GET', url: `/internal/v1/projects/${p1}/messages/${messageId}` });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual(await statuses.getStatus(p1, messageId));

    const hidden = await app.inject({ method: 'GET', url: `/internal/v1/projects/${p2}/messages/${messageId}` });
    expect(hidden.statusCode).toBe(404);
    expect(hidden.json()).toMatchObject({ code: 'not_found' });
  });
});

describe('collapse keys and TTL 0', () => {
  it('replaces a pending message by a newer one with the same collapse key', async () => {
    const device = newDevice();
    const registrationId = await register(device, a1);
    const older = await send({ ...accepted(p1, { type: 'device', value: registrationId }), collapseKey: 'score' });
    clock.advance(10);
    const other = await send({ ...accepted(p1, { type: 'device', value: registrationId }), collapseKey: 'other' });
    clock.advance(10);
    const newer = await send({ ...accepted(p1, { type: 'device', value: registrationId }), collapseKey: 'score' });

    await connect(device, 't-1');
    expect(deliveries('t-1').map((d) => d.messageId)).toEqual([other, newer]);
    expect(await statuses.getStatus(p1, older)).toMatchObject({ state: 'expired', counts: { expired: 1 } });
  });

  it('collapses within a group fan-out too', async () => {
    const app = `acol-${randomToken(4)}`;
    await bus.publish(Topics.registry, [application(app, p1, true, 1)]);
    const device = newDevice();
    await register(device, app);
    const older = await send({ ...accepted(p1, { type: 'application', value: app }), collapseKey: 'k' });
    await fannedOut(older);
    clock.advance(10);
    const newer = await send({ ...accepted(p1, { type: 'application', value: app }), collapseKey: 'k' });
    await fannedOut(newer);
    await connect(device, 't-2');
    expect(deliveries('t-2').map((d) => d.messageId)).toEqual([newer]);
  });

  it('TTL 0: sends to online devices now and expires the message for offline ones at once', async () => {
    const online = newDevice();
    const offline = newDevice();
    const onlineId = await register(online, a1);
    const offlineId = await register(offline, a1);
    await presence.set(online, 't-1', 3600);
    const toOnline = await send(accepted(p1, { type: 'device', value: onlineId }, 0));
    const toOffline = await send(accepted(p1, { type: 'device', value: offlineId }, 0));
    expect(deliveries('t-1').map((d) => d.messageId)).toEqual([toOnline]);
    expect(deliveries('t-1')[0]!.expiresAtMs).toBeGreaterThan(T0);
    expect(await deliveryRows(toOffline)).toEqual([{ registration_id: offlineId, state: 'expired' }]);
    await connect(offline, 't-1');
    expect(deliveries('t-1').map((d) => d.messageId)).toEqual([toOnline]);
  });
});

describe('receipts in batches, sweeper, statistics', () => {
  it('applies a batch of receipts for many devices in order, and counts each delivery once', async () => {
    const devices = [newDevice(), newDevice(), newDevice()];
    const ids: string[] = [];
    for (const device of devices) ids.push(await send(accepted(p1, { type: 'device', value: await register(device, a1) })));
    const batch = devices.flatMap((deviceId, i) => [
      { value: { status: 'sent' as const, deviceId, instanceId: 't-1', messageIds: [ids[i]!], atMs: T0 } },
      { value: { status: 'delivered' as const, deviceId, instanceId: 't-1', messageIds: [ids[i]!], atMs: T0 } },
    ]);
    const day = new Date(T0).toISOString().slice(0, 10);
    const before = (await stats.getStats(p1, day, day)).days[0]!.delivered;
    await bus.publish(Topics.deliveryReceipts, batch);
    await bus.publish(Topics.deliveryReceipts, batch);
    for (const id of ids) expect(await statuses.getStatus(p1, id)).toMatchObject({ state: 'delivered' });
    expect((await stats.getStats(p1, day, day)).days[0]!.delivered).toBe(before + 3);
  });

  it('keeps per-project daily counters as deliveries change state', async () => {
    const p3 = `p3-${randomToken(4)}`;
    const a3 = `a3-${randomToken(4)}`;
    await bus.publish(Topics.registry, [project(p3, true, 1), application(a3, p3, true, 1)]);
    const [d1, d2] = [newDevice(), newDevice()];
    const [r1, r2] = [await register(d1, a3), await register(d2, a3)];
    const delivered = await send(accepted(p3, { type: 'device', value: r1 }));
    const expires = await send(accepted(p3, { type: 'device', value: r2 }, 1000));
    await send(accepted(p3, { type: 'device', value: 'no-such-registration' }));
    await receipt('delivered', d1, 't-1', [delivered]);
    clock.advance(DAY);
    expect(await sweeper.sweep()).toBe(false);
    expect(await deliveryRows(expires)).toEqual([{ registration_id: r2, state: 'expired' }]);

    const day1 = new Date(T0).toISOString().slice(0, 10);
    const day2 = new Date(T0 + DAY).toISOString().slice(0, 10);
    expect(await stats.getStats(p3, day1, day2)).toEqual({
      projectId: p3,
      from: day1,
      to: day2,
      days: [
        { date: day1, accepted: 3, delivered: 1, expired: 0, failed: 1, cancelled: 0 },
        { date: day2, accepted: 0, delivered: 0, expired: 1, failed: 0, cancelled: 0 },
      ],
    });
    const viaHttp = await app.inject({ method: 'GET', url: `/internal/v1/projects/${p3}/stats?from=${day1}&to=${day2}` });
    expect(viaHttp.statusCode).toBe(200);
    expect(viaHttp.json()).toEqual(await stats.getStats(p3, day1, day2));
    const bad = await app.inject({ method: 'GET', url: `/internal/v1/projects/${p3}/stats?from=2026-02-30&to=${day2}` });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'invalid_argument' });
  });

  it('counts a batch accepted across midnight on each message\'s own day; a redelivery counts nothing', async () => {
    const p6 = `p6-${randomToken(4)}`;
    const a6 = `a6-${randomToken(4)}`;
    await bus.publish(Topics.registry, [project(p6, true, 1), application(a6, p6, true, 1)]);
    const registrationId = await register(newDevice(), a6);
    clock.set(T0 + DAY - 1);
    const late = accepted(p6, { type: 'device', value: registrationId });
    clock.set(T0 + DAY);
    const early = accepted(p6, { type: 'device', value: registrationId });
    const unreachable = accepted(p6, { type: 'device', value: 'no-such-registration' });
    const foreign = accepted(p1, { type: 'device', value: registrationId });
    await bus.publish(Topics.messageAccepted, [late, early, unreachable, foreign].map((value) => ({ value })));
    await bus.publish(Topics.messageAccepted, [late, early].map((value) => ({ value })));
    const day1 = new Date(T0).toISOString().slice(0, 10);
    const day2 = new Date(T0 + DAY).toISOString().slice(0, 10);
    expect((await stats.getStats(p6, day1, day2)).days).toEqual([
      { date: day1, accepted: 1, delivered: 0, expired: 0, failed: 0, cancelled: 0 },
      { date: day2, accepted: 2, delivered: 0, expired: 0, failed: 1, cancelled: 0 },
    ]);
    expect(await statuses.getStatus(p6, unreachable.messageId)).toMatchObject({ state: 'failed' });
    expect(await statuses.getStatus(p1, foreign.messageId)).toMatchObject({ state: 'failed' });
  });

  it('adds up counts made by many concurrent transactions, which do not queue on one counter row', async () => {
    const p4 = `p4-${randomToken(4)}`;
    const db = app.get(PushDb);
    const repository = app.get(StatsRepository);
    const day = new Date(T0).toISOString().slice(0, 10);
    await Promise.all(
      Array.from({ length: 24 }, () =>
        db.transaction(async (sql) => {
          // Two bumps in one transaction land on the same row (no lock-order deadlock with another).
          await repository.bump(sql, [{ projectId: p4, counter: 'accepted', atMs: T0 }]);
          await repository.bump(sql, [{ projectId: p4, counter: 'delivered', atMs: T0 }]);
        }),
      ),
    );
    expect(await stats.getStats(p4, day, day)).toMatchObject({ days: [{ date: day, accepted: 24, delivered: 24, expired: 0, failed: 0 }] });
    const rows = await dataSource.query(`SELECT accepted, delivered FROM project_daily_stats WHERE project_id = $1`, [p4]);
    expect(rows.length).toBeGreaterThan(1);
    for (const row of rows) expect(row.accepted).toBe(row.delivered);
  });

  it('counts the rows a statement changed in that statement, on a shard of its own when it commits alone', async () => {
    const p5 = `p5-${randomToken(4)}`;
    const db = app.get(PushDb);
    const repository = app.get(StatsRepository);
    const day = new Date(T0).toISOString().slice(0, 10);
    const change = { text: `SELECT $1::text AS project_id FROM generate_series(1, 2)`, params: [p5] };
    const results = await Promise.all(Array.from({ length: 24 }, () => repository.countChanged(db.sql, change, 'delivered', T0)));
    for (const rows of results) expect(rows).toEqual([{ project_id: p5 }, { project_id: p5 }]);
    // In a transaction, the counting statement and a bump share the transaction's one shard.
    await db.transaction(async (sql) => {
      await repository.countChanged(sql, change, 'accepted', T0);
      await repository.bump(sql, [{ projectId: p5, counter: 'accepted', atMs: T0 }]);
    });
    expect(await stats.getStats(p5, day, day)).toMatchObject({ days: [{ date: day, accepted: 3, delivered: 48, expired: 0, failed: 0 }] });
    const rows = await dataSource.query(`SELECT accepted FROM project_daily_stats WHERE project_id = $1 AND accepted > 0`, [p5]);
    expect(rows).toEqual([{ accepted: '3' }]);
    expect(Number((await dataSource.query(`SELECT count(*) AS n FROM project_daily_stats WHERE project_id = $1`, [p5]))[0].n)).toBeGreaterThan(1);
  });

  it('analyzes the tables a delivery is joined with as soon as they grew, not a minute later', async () => {
    expect(needsAnalyze(1000, 100)).toBe(false);
    expect(needsAnalyze(1000, 200)).toBe(true);
    const lastAnalyze = async () =>
      (await dataSource.query(`SELECT coalesce(last_analyze, 'epoch')::text AS at FROM pg_stat_user_tables WHERE relname = 'registry_applications'`))[0].at as string;
    const before = await lastAnalyze();
    const tag = randomToken(4);
    await dataSource.query(
      `INSERT INTO registry_applications (id, project_id, is_active, updated_at_ms) SELECT 'bulk-' || $1 || '-' || g, 'bulk-project', true, 1 FROM generate_series(1, 500) g`,
      [tag],
    );
    // The inserting backend reports them to the cumulative statistics within a second, or at its
    // next idle flush (PostgreSQL 15+: up to 10 s) when the machine is busy.
    await expectEventually(
      async () => {
        await app.get(PlannerStatistics).check();
        expect(await lastAnalyze()).not.toBe(before);
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
  }, 20_000);

  it('analyzes deliveries and messages as they grow, so that prepared statements are planned again for their size', async () => {
    const lastAnalyze = async (table: string) =>
      (await dataSource.query(`SELECT coalesce(last_analyze, 'epoch')::text AS at FROM pg_stat_user_tables WHERE relname = $1`, [table]))[0].at as string;
    const before = { deliveries: await lastAnalyze('deliveries'), messages: await lastAnalyze('messages') };
    const tag = `bulk-${randomToken(4)}`;
    await dataSource.query(
      `INSERT INTO messages (id, project_id, target_type, target_value, title, body, priority, accepted_at_ms, expires_at_ms, ttl_seconds, outcome, stored_at_ms)
       SELECT $1 || '-' || g, 'bulk-project', 'device', 'r', 't', 'b', 'normal', 1, 2, 1, 'stored', 1 FROM generate_series(1, 2000) g`,
      [tag],
    );
    await dataSource.query(
      `INSERT INTO deliveries (message_id, registration_id, project_id, device_id, application_id, state, accepted_at_ms, expires_at_ms, updated_at_ms)
       SELECT $1 || '-' || g, 'r', 'bulk-project', 'd', 'a', 'delivered', 1, 2, 1 FROM generate_series(1, 2000) g`,
      [tag],
    );
    try {
      await expectEventually(
        async () => {
          await app.get(PlannerStatistics).check();
          expect(await lastAnalyze('deliveries')).not.toBe(before.deliveries);
          expect(await lastAnalyze('messages')).not.toBe(before.messages);
        },
        { timeoutMs: 15_000, intervalMs: 200 },
      );
    } finally {
      await dataSource.query(`DELETE FROM deliveries WHERE project_id = 'bulk-project'`);
      await dataSource.query(`DELETE FROM messages WHERE project_id = 'bulk-project'`);
    }
  }, 20_000);

  it('unregisters stale registrations and purges what retention no longer keeps', async () => {
    const device = newDevice();
    const registrationId = await register(device, a1);
    const messageId = await send(accepted(p1, { type: 'device', value: registrationId }));
    clock.advance(31 * DAY);
    while (await sweeper.sweep()) {
      // drains the backlog of every earlier test too
    }
    expect(await request({ deviceId: device, op: 'register', applicationId: a1, registrationId })).toMatchObject({ isNew: true });
    expect(await statuses.getStatus(p1, messageId)).toBeNull();
    const [{ n }] = await dataSource.query('SELECT count(*)::int AS n FROM registrations WHERE id = $1', [registrationId]);
    expect(n).toBe(1);
    clock.advance(2 * DAY);
    while (await sweeper.sweep()) {
      // purges the registration unregistered two days ago
    }
    const [{ n: left }] = await dataSource.query('SELECT count(*)::int AS n FROM registrations WHERE id = $1', [registrationId]);
    expect(left).toBe(0);
  });
});

describe('registration stuffing (issue 15, finding 5)', () => {
  async function rowOf(registrationId: string): Promise<{ live: boolean; confirmed: boolean }> {
    const [row] = await dataSource.query('SELECT unregistered_at_ms, unconfirmed_since_ms FROM registrations WHERE id = $1', [registrationId]);
    return { live: row.unregistered_at_ms === null, confirmed: row.unconfirmed_since_ms === null };
  }

  it('unregisters a registration whose device never connected again, after the short period; a later connection or being online then confirms it', async () => {
    const [gone, back, online, sameConnection] = [newDevice(), newDevice(), newDevice(), newDevice()];
    const helloAtMs = clock.now();
    clock.advance(5);
    const [rGone, rBack, rOnline, rSame] = [await register(gone, a1), await register(back, a1), await register(online, a1), await register(sameConnection, a1)];
    // The connection that registered announces itself late (its Hello came before the Register): no confirmation.
    await bus.publish(Topics.deviceEvents, [{ value: { kind: 'connected' as const, deviceId: sameConnection, instanceId: 't-1', atMs: helloAtMs } }]);
    clock.advance(10);
    // A later connection confirms, also once the device is gone again.
    await connect(back, 't-2');
    await presence.removeIfOwner(back, 't-2');
    // Online throughout (presence here runs on the test's clock).
    await presence.set(online, 't-1', (5 * DAY) / 1000);
    const pushed = await send(accepted(p1, { type: 'device', value: rGone }, 5 * DAY));
    expect(await rowOf(rBack)).toEqual({ live: true, confirmed: true });
    expect(await rowOf(rGone)).toEqual({ live: true, confirmed: false });

    clock.advance(DAY);
    while (await sweeper.sweep()) {
      // nothing unconfirmed is due yet
    }
    expect(await rowOf(rGone)).toEqual({ live: true, confirmed: false });

    clock.advance(DAY);
    while (await sweeper.sweep()) {
      // every registration of earlier tests made two days ago and never confirmed goes too
    }
    expect(await rowOf(rGone)).toEqual({ live: false, confirmed: false });
    expect(await rowOf(rSame)).toEqual({ live: false, confirmed: false });
    expect(await rowOf(rBack)).toEqual({ live: true, confirmed: true });
    expect(await rowOf(rOnline)).toEqual({ live: true, confirmed: true });
    expect(await deliveryRows(pushed)).toEqual([{ registration_id: rGone, state: 'failed' }]);
    // The device that comes back after all is issued a new registration.
    expect(await request({ deviceId: gone, op: 'register', applicationId: a1, registrationId: rGone })).toMatchObject({ ok: true, isNew: true });
    await presence.removeIfOwner(online, 't-1');
  });

  it('requires the registration secret of an application that has one for a new registration, compared by hash; a held registration is confirmed without it', async () => {
    const [pS, aS] = [`ps-${randomToken(4)}`, `as-${randomToken(4)}`];
    const hash = (s: string) => createHash('sha256').update(s).digest('hex');
    const device = newDevice();
    await bus.publish(Topics.registry, [project(pS, true, 1), application(aS, pS, true, 1)]);
    const before = await register(device, aS);
    const secret = 'brs_0123456789abcdef0123456789abcdef01234567';
    await bus.publish(Topics.registry, [{ value: { kind: 'application' as const, application: { id: aS, projectId: pS, name: aS, isActive: true, registrationSecretHash: hash(secret), createdAtMs: 0, updatedAtMs: 2 } } }]);

    const refused = { ok: false, errorCode: 'permission_denied', errorMessage: 'this application requires its registration secret', registrationId: '' };
    expect(await request({ deviceId: newDevice(), op: 'register', applicationId: aS })).toMatchObject(refused);
    expect(await request({ deviceId: newDevice(), op: 'register', applicationId: aS, registrationSecretHash: hash('brs_wrong') })).toMatchObject(refused);
    expect(await request({ deviceId: newDevice(), op: 'register', applicationId: aS, registrationSecretHash: hash(secret) })).toMatchObject({ ok: true, isNew: true });
    // The device that registered before the secret keeps its registration.
    expect(await request({ deviceId: device, op: 'register', applicationId: aS, registrationId: before })).toMatchObject({ ok: true, isNew: false, registrationId: before });
  });

  it('lets one device hold at most 1,000 live registrations, whatever its users; replacing one of them still works', async () => {
    const device = newDevice();
    await dataSource.query(
      `INSERT INTO registrations (id, project_id, application_id, device_id, device_user, created_at_ms, last_seen_at_ms)
       SELECT 'stuffed-' || $1 || '-' || i, $2, $3, $1, 'u' || i, $4, $4 FROM generate_series(1, 999) AS i`,
      [device, p1, a1, clock.now()],
    );
    const last = await request({ deviceId: device, op: 'register', applicationId: a1, deviceUser: 'u1000' });
    expect(last).toMatchObject({ ok: true, isNew: true });
    expect(await request({ deviceId: device, op: 'register', applicationId: a1, deviceUser: 'u1001' })).toMatchObject({
      ok: false,
      errorCode: 'failed_precondition',
      errorMessage: 'a device holds at most 1000 live registrations',
    });
    // A user's app registering again replaces its registration: no more rows.
    expect(await request({ deviceId: device, op: 'register', applicationId: a1, deviceUser: 'u7' })).toMatchObject({ ok: true, isNew: true });
    const [{ n }] = await dataSource.query('SELECT count(*)::int AS n FROM registrations WHERE device_id = $1 AND unregistered_at_ms IS NULL', [device]);
    expect(n).toBe(1000);
  });
});

describe('cancel (app servers)', () => {
  async function cancel(projectId: string, messageId: string): Promise<void> {
    await bus.publish(Topics.messageCancelRequested, [{ value: { requestId: uuidv7(), projectId, messageId, atMs: clock.now() } }]);
  }

  function cancels(instanceId: string): DeliveryCancelV1[] {
    return inbox.get(instanceId)!.filter((m): m is DeliveryCancelV1 => m.kind === 'cancel');
  }

  it('cancels pending deliveries, which a device connecting afterwards never gets; delivered ones stay', async () => {
    const p5 = `p5-${randomToken(4)}`;
    const a5 = `a5-${randomToken(4)}`;
    await bus.publish(Topics.registry, [project(p5, true, 1), application(a5, p5, true, 1)]);
    const [online, offline] = [newDevice(), newDevice()];
    const [rOnline, rOffline] = [await register(online, a5), await register(offline, a5)];
    await presence.set(online, 't-1', 3600);

    const messageId = await send(accepted(p5, { type: 'application', value: a5 }));
    await fannedOut(messageId);
    await receipt('delivered', online, 't-1', [messageId]);
    clock.advance(1000);
    await cancel(p5, messageId);

    expect(await statuses.getStatus(p5, messageId)).toMatchObject({
      state: 'cancelled',
      cancelledAt: new Date(T0 + 1000).toISOString(),
      counts: { delivered: 1, cancelled: 1, pending: 0 },
    });
    expect((await deliveryRows(messageId)).sort((a, b) => a.registration_id.localeCompare(b.registration_id))).toEqual(
      [
        { registration_id: rOnline, state: 'delivered' },
        { registration_id: rOffline, state: 'cancelled' },
      ].sort((a, b) => a.registration_id.localeCompare(b.registration_id)),
    );
    // The online device's transport learns nothing (its delivery was acknowledged); the offline one is not online.
    expect(cancels('t-1')).toEqual([]);

    inbox.get('t-2')!.length = 0;
    await connect(offline, 't-2');
    expect(deliveries('t-2')).toEqual([]);

    // Idempotent, and counted once per recipient.
    await cancel(p5, messageId);
    const day = new Date(T0).toISOString().slice(0, 10);
    expect((await stats.getStats(p5, day, day)).days[0]).toMatchObject({ accepted: 1, delivered: 1, cancelled: 1 });
  });

  it('tells the transport holding a device, so that a delivery still in its inbox is dropped', async () => {
    const device = newDevice();
    const registrationId = await register(device, a1);
    await presence.set(device, 't-1', 3600);
    const messageId = await send(accepted(p1, { type: 'device', value: registrationId }));
    expect(deliveries('t-1').map((d) => d.messageId)).toEqual([messageId]);
    await receipt('sent', device, 't-1', [messageId]);

    await cancel(p1, messageId);
    expect(cancels('t-1')).toEqual([{ kind: 'cancel', deviceId: device, messageIds: [messageId], atMs: T0 }]);
    expect(await deliveryRows(messageId)).toEqual([{ registration_id: registrationId, state: 'cancelled' }]);
    // Terminal: a late ack or not_held changes nothing, and the reconnect flush skips it.
    await receipt('not_held', device, 't-1', [messageId]);
    await receipt('delivered', device, 't-1', [messageId]);
    expect(await deliveryRows(messageId)).toEqual([{ registration_id: registrationId, state: 'cancelled' }]);
  });

  it('ignores a cancel from another project', async () => {
    const registrationId = await register(newDevice(), a1);
    const messageId = await send(accepted(p1, { type: 'device', value: registrationId }));
    await cancel(p2, messageId);
    expect(await statuses.getStatus(p1, messageId)).toMatchObject({ state: 'stored', cancelledAt: null, counts: { pending: 1, cancelled: 0 } });
  });

  it('cancels a group message during its fan-out: no recipient is left pending, and it is not called failed', async () => {
    const app = `acancel-${randomToken(4)}`;
    await bus.publish(Topics.registry, [application(app, p1, true, 1)]);
    for (let i = 0; i < 5; i++) await register(newDevice(), app);
    const message = accepted(p1, { type: 'application', value: app });
    // The worker streams chunks of 2 in the background; the cancel lands before, during or after them.
    await send(message);
    await cancel(p1, message.messageId);
    await fannedOut(message.messageId);
    const status = await statuses.getStatus(p1, message.messageId);
    expect(status).toMatchObject({ state: 'cancelled' });
    expect(status!.counts.pending).toBe(0);
    expect(status!.counts.failed).toBe(0);
    expect((await deliveryRows(message.messageId)).filter((r) => r.state !== 'cancelled')).toEqual([]);
  });
});

describe('registration management (app servers)', () => {
  async function unregister(projectId: string, registrationId: string): Promise<void> {
    await bus.publish(Topics.registrationUnregisterRequested, [{ value: { requestId: uuidv7(), projectId, registrationId, atMs: clock.now() } }]);
  }

  it('describes a registration of the project (application, times, online now, topics) and nothing of another project', async () => {
    const device = newDevice();
    const registrationId = await register(device, a1);
    await request({ deviceId: device, op: 'subscribe', registrationId, topics: ['zeta', 'alpha'] });
    const registrations = app.get(RegistrationQuery);
    expect(await registrations.getRegistration(p1, registrationId)).toEqual({
      registrationId,
      projectId: p1,
      applicationId: a1,
      createdAt: new Date(T0).toISOString(),
      lastSeenAt: new Date(T0).toISOString(),
      unregisteredAt: null,
      online: false,
      topicCount: 2,
      topics: ['alpha', 'zeta'],
    });
    await connect(device, 't-1');
    expect(await registrations.getRegistration(p1, registrationId)).toMatchObject({ online: true });
    expect(await registrations.getTopics(p1, registrationId)).toEqual({
      registrationId,
      projectId: p1,
      topics: [
        { topic: 'alpha', subscribedAt: new Date(T0).toISOString() },
        { topic: 'zeta', subscribedAt: new Date(T0).toISOString() },
      ],
    });
    expect(await registrations.getRegistration(p2, registrationId)).toBeNull();
    expect(await registrations.getTopics(p2, registrationId)).toBeNull();

    const viaHttp = await app.inject({ method: 'GET', url: `/internal/v1/projects/${p1}/registrations/${registrationId}` });
    expect(viaHttp.statusCode).toBe(200);
    expect(viaHttp.json()).toMatchObject({ registrationId, online: true });
    expect((await app.inject({ method: 'GET', url: `/internal/v1/projects/${p2}/registrations/${registrationId}` })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: `/internal/v1/projects/${p2}/registrations/${registrationId}/topics` })).statusCode).toBe(404);
  });

  it('unregisters: no further deliveries, open ones fail, the transport drops a queued one; the device gets a new id at its next registrate', async () => {
    const device = newDevice();
    const registrationId = await register(device, a1);
    await presence.set(device, 't-1', 3600);
    const messageId = await send(accepted(p1, { type: 'device', value: registrationId }));

    await unregister(p2, registrationId);
    expect(await app.get(RegistrationQuery).getRegistration(p1, registrationId)).toMatchObject({ unregisteredAt: null });

    clock.advance(1000);
    await unregister(p1, registrationId);
    expect(await app.get(RegistrationQuery).getRegistration(p1, registrationId)).toMatchObject({ unregisteredAt: new Date(T0 + 1000).toISOString(), online: false });
    expect(await deliveryRows(messageId)).toEqual([{ registration_id: registrationId, state: 'failed' }]);
    expect(inbox.get('t-1')!.filter((m) => m.kind === 'cancel')).toEqual([{ kind: 'cancel', deviceId: device, messageIds: [messageId], atMs: T0 + 1000 }]);

    const later = await send(accepted(p1, { type: 'device', value: registrationId }));
    expect(await statuses.getStatus(p1, later)).toMatchObject({ state: 'failed', recipients: [] });
    // Idempotent.
    await unregister(p1, registrationId);
    expect(await app.get(RegistrationQuery).getRegistration(p1, registrationId)).toMatchObject({ unregisteredAt: new Date(T0 + 1000).toISOString() });

    const again = await request({ deviceId: device, op: 'register', applicationId: a1, registrationId });
    expect(again).toMatchObject({ ok: true, isNew: true });
    expect(again.registrationId).not.toBe(registrationId);
  });
});

describe('multicast', () => {
  it('creates one delivery per listed live registration of the project, routes them, and ignores foreign or unknown ids', async () => {
    const [d1, d2, d3] = [newDevice(), newDevice(), newDevice()];
    const [r1, r2] = [await register(d1, a1), await register(d2, a1)];
    const foreign = await register(d3, a2);
    await presence.set(d1, 't-1', 3600);
    await presence.set(d3, 't-2', 3600);
    const message: MessageAcceptedV1 = { ...accepted(p1, { type: 'registrations', value: '4' }), registrationIds: [r1, r2, foreign, 'no-such-registration', r1] };
    await send(message);
    expect((await deliveryRows(message.messageId)).map((r) => r.registration_id).sort()).toEqual([r1, r2].sort());
    expect(deliveries('t-1').map((d) => [d.messageId, d.registrationId])).toEqual([[message.messageId, r1]]);
    expect(deliveries('t-2')).toEqual([]);
    expect(await statuses.getStatus(p1, message.messageId)).toMatchObject({ state: 'stored', target: { type: 'registrations', value: '4' }, counts: { pending: 2 } });
    await connect(d2, 't-2');
    expect(deliveries('t-2').map((d) => d.registrationId)).toEqual([r2]);

    // None live in the project: the message fails as a whole, as a device message would.
    const none: MessageAcceptedV1 = { ...accepted(p1, { type: 'registrations', value: '1' }), registrationIds: [foreign] };
    await send(none);
    expect(await statuses.getStatus(p1, none.messageId)).toMatchObject({ state: 'failed', recipients: [] });
  });
});

describe('message listing', () => {
  it('lists a project’s messages newest first, a page at a time, by state and since, and nothing of another project', async () => {
    const p6 = `p6-${randomToken(4)}`;
    const a6 = `a6-${randomToken(4)}`;
    await bus.publish(Topics.registry, [project(p6, true, 1), application(a6, p6, true, 1)]);
    const device = newDevice();
    const registrationId = await register(device, a6);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      clock.set(T0 + i * 1000);
      ids.push(await send(accepted(p6, { type: 'device', value: registrationId })));
    }
    clock.set(T0 + 5000);
    const failed = await send(accepted(p6, { type: 'device', value: 'nobody' }));
    await receipt('delivered', device, 't-1', [ids[1]!]);
    const newestFirst = [failed, ...[...ids].reverse()];
    const listing = app.get(MessageListQuery);

    const all = await listing.list(p6, { limit: 100 });
    expect(all.messages.map((m) => m.id)).toEqual(newestFirst);
    expect(all.nextCursor).toBeNull();
    expect(all.messages[0]).toMatchObject({ state: 'failed', target: { type: 'device', value: 'nobody' } });
    expect(all.messages.find((m) => m.id === ids[1])).toMatchObject({ state: 'delivered', counts: { delivered: 1 }, createdAt: new Date(T0 + 1000).toISOString() });

    // Pages of two, following the cursor, give the same sequence once each.
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: MessageListV1 = await listing.list(p6, { limit: 2, after: cursor === null ? null : decodeMessageCursor(cursor) });
      expect(page.messages.length).toBeLessThanOrEqual(2);
      paged.push(...page.messages.map((m) => m.id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(paged).toEqual(newestFirst);

    expect((await listing.list(p6, { limit: 100, state: 'delivered' })).messages.map((m) => m.id)).toEqual([ids[1]]);
    expect((await listing.list(p6, { limit: 2, state: 'stored' })).messages.map((m) => m.id)).toEqual([ids[4], ids[3]]);
    expect((await listing.list(p6, { limit: 100, sinceMs: T0 + 3000 })).messages.map((m) => m.id)).toEqual([failed, ids[4], ids[3]]);
    const foreign = await listing.list(p2, { limit: 100 });
    expect(foreign.messages.filter((m) => newestFirst.includes(m.id) || m.projectId !== p2)).toEqual([]);

    const viaHttp = await app.inject({ method: 'GET', url: `/internal/v1/projects/${p6}/messages?limit=1&state=failed` });
    expect(viaHttp.statusCode).toBe(200);
    expect(viaHttp.json()).toMatchObject({ projectId: p6, messages: [{ id: failed }] });
    expect((await app.inject({ method: 'GET', url: `/internal/v1/projects/${p6}/messages?limit=0` })).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: `/internal/v1/projects/${p6}/messages?limit=5&cursor=nope` })).statusCode).toBe(400);
  });
});

describe('topic subscriptions requested by app servers', () => {
  async function subscription(projectId: string, registrationId: string, op: 'subscribe' | 'unsubscribe', topics: string[]): Promise<void> {
    await bus.publish(Topics.topicSubscriptionRequested, [{ value: { requestId: uuidv7(), projectId, registrationId, op, topics, atMs: clock.now() } }]);
  }

  async function topicsOf(registrationId: string): Promise<string[]> {
    const rows: { topic: string }[] = await dataSource.query('SELECT topic FROM registration_topics WHERE registration_id = $1 ORDER BY topic', [registrationId]);
    return rows.map((r) => r.topic);
  }

  it('applies (un)subscriptions of the project’s own registrations only, idempotently', async () => {
    const registrationId = await register(newDevice(), a1);
    await subscription(p1, registrationId, 'subscribe', ['alpha', 'beta']);
    await subscription(p1, registrationId, 'subscribe', ['alpha']);
    await subscription(p2, registrationId, 'subscribe', ['foreign']);
    expect(await topicsOf(registrationId)).toEqual(['alpha', 'beta']);
    await subscription(p1, registrationId, 'unsubscribe', ['beta', 'never']);
    await subscription(p2, registrationId, 'unsubscribe', ['alpha']);
    expect(await topicsOf(registrationId)).toEqual(['alpha']);
  });

  it('dead-letters an invalid topic name', async () => {
    const registrationId = await register(newDevice(), a1);
    const before = bus.deadLetters.length;
    await subscription(p1, registrationId, 'subscribe', ['no spaces']);
    expect(bus.deadLetters.slice(before)).toEqual([expect.objectContaining({ consumerGroup: 'test.push-core.subscriptions', reason: expect.stringContaining('topic') })]);
    expect(await topicsOf(registrationId)).toEqual([]);
  });
});

describe('scheduled sends (send_at)', () => {
  /** The release loop ticks every second (real time) and reads the (fixed) clock. */
  const released = { timeoutMs: 15_000, intervalMs: 100 };

  it('holds a device-targeted message until its time, also through a reconnect, then routes it', async () => {
    const device = newDevice();
    const registrationId = await register(device, a1);
    await presence.set(device, 't-1', 3600);
    const message = { ...accepted(p1, { type: 'device', value: registrationId }), sendAtMs: T0 + 10 * 60_000 };
    await send(message);
    await connect(device, 't-1');
    // Two release ticks at the current time: nothing is due.
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    expect(deliveries('t-1').map((d) => d.messageId)).not.toContain(message.messageId);
    expect(await statuses.getStatus(p1, message.messageId)).toMatchObject({ state: 'stored', sendAt: new Date(T0 + 10 * 60_000).toISOString(), counts: { pending: 1 } });

    clock.advance(10 * 60_000);
    await expectEventually(() => expect(deliveries('t-1').filter((d) => d.messageId === message.messageId)).toHaveLength(1), released);
    // Released once: later ticks and reconnects route it as any pending delivery, not as scheduled.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(deliveries('t-1').filter((d) => d.messageId === message.messageId)).toHaveLength(1);
    const [row] = await dataSource.query('SELECT not_before_ms FROM deliveries WHERE message_id = $1', [message.messageId]);
    expect(row).toEqual({ not_before_ms: null });
    await receipt('delivered', device, 't-1', [message.messageId]);
    expect(await statuses.getStatus(p1, message.messageId)).toMatchObject({ state: 'delivered' });
  }, 40_000);

  it('an offline device gets a released message when it connects', async () => {
    const device = newDevice();
    const registrationId = await register(device, a1);
    const message = { ...accepted(p1, { type: 'device', value: registrationId }), sendAtMs: T0 + 60_000 };
    await send(message);
    clock.advance(60_000);
    await expectEventually(async () => {
      const [row] = await dataSource.query('SELECT not_before_ms FROM deliveries WHERE message_id = $1', [message.messageId]);
      expect(row).toEqual({ not_before_ms: null });
    }, released);
    expect(deliveries('t-2')).toEqual([]);
    await connect(device, 't-2');
    expect(deliveries('t-2').map((d) => d.messageId)).toEqual([message.messageId]);
  }, 40_000);

  it('a message cancelled before its time never goes out', async () => {
    const device = newDevice();
    const registrationId = await register(device, a1);
    await presence.set(device, 't-1', 3600);
    const message = { ...accepted(p1, { type: 'device', value: registrationId }), sendAtMs: T0 + 60_000 };
    await send(message);
    await bus.publish(Topics.messageCancelRequested, [{ value: { requestId: uuidv7(), projectId: p1, messageId: message.messageId, atMs: clock.now() } }]);
    expect(await statuses.getStatus(p1, message.messageId)).toMatchObject({ state: 'cancelled', counts: { cancelled: 1, pending: 0 } });
    clock.advance(60_000);
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    await connect(device, 't-1');
    expect(deliveries('t-1').map((d) => d.messageId)).not.toContain(message.messageId);
  }, 40_000);

  it('fans a group message out only once its time has come', async () => {
    const device = newDevice();
    await register(device, a2);
    await presence.set(device, 't-1', 3600);
    const message = { ...accepted(p2, { type: 'application', value: a2 }), sendAtMs: T0 + 5 * 60_000 };
    await send(message);
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    const [{ n }] = await dataSource.query('SELECT count(*)::int AS n FROM deliveries WHERE message_id = $1', [message.messageId]);
    expect(n).toBe(0);
    clock.advance(5 * 60_000);
    await expectEventually(() => expect(deliveries('t-1').filter((d) => d.messageId === message.messageId && d.deviceId === device)).toHaveLength(1), released);
    await fannedOut(message.messageId);
  }, 40_000);
});

describe('priority in store-and-forward', () => {
  it('flushes a device’s high-priority pushes ahead of its normal backlog, each in acceptance order', async () => {
    const device = newDevice();
    const registrationId = await register(device, a1);
    const ids: Record<string, string> = {};
    for (const [name, priority] of [['n1', 'normal'], ['h1', 'high'], ['n2', 'normal'], ['h2', 'high']] as const) {
      clock.advance(10);
      ids[name] = await send({ ...accepted(p1, { type: 'device', value: registrationId }), priority });
    }
    await connect(device, 't-2');
    expect(deliveries('t-2').map((d) => d.messageId)).toEqual([ids['h1'], ids['h2'], ids['n1'], ids['n2']]);
    // Each delivery carries its priority, so that the transport writes high ones ahead of a backlog too.
    expect(deliveries('t-2').map((d) => d.priority)).toEqual(['high', 'high', 'normal', 'normal']);
  });

  it('routes a batch of messages as their stored deliveries read back: collapsed, scheduled, failed and by priority', async () => {
    const [d1, d2] = [newDevice(), newDevice()];
    const [r1, r2] = [await register(d1, a1), await register(d2, a1)];
    await presence.set(d1, 't-1', 3600);
    await presence.set(d2, 't-1', 3600);
    const next = (message: MessageAcceptedV1): MessageAcceptedV1 => (clock.advance(5), { ...message, messageId: uuidv7(clock.now()), acceptedAtMs: clock.now() });
    const batch = [
      next({ ...accepted(p1, { type: 'device', value: r1 }), collapseKey: 'score' }),
      next({ ...accepted(p1, { type: 'device', value: r2 }) }),
      next({ ...accepted(p1, { type: 'device', value: r1 }), collapseKey: 'score' }),
      next({ ...accepted(p1, { type: 'device', value: r2 }), priority: 'high' }),
      next({ ...accepted(p1, { type: 'device', value: r1 }), sendAtMs: clock.now() + HOUR }),
      next({ ...accepted(p1, { type: 'registrations', value: '2' }), registrationIds: [r2, r1], priority: 'high' }),
      next({ ...accepted(p1, { type: 'device', value: r2 }), notification: { title: 'T', message: 'M', data: null }, ttlSeconds: 0 }),
      next({ ...accepted(p1, { type: 'device', value: 'no-such-registration' }) }),
    ];
    const ids = batch.map((m) => m.messageId);
    await bus.publish(
      Topics.messageAccepted,
      batch.map((value) => ({ value })),
    );
    const routed = deliveries('t-1')
      .filter((d) => ids.includes(d.messageId))
      .map(({ kind: _kind, sentAtMs: _sentAtMs, ...delivery }) => delivery);
    const stored = await app.get(DeliveryRepository).outboundOfMessages(app.get(PushDb).sql, ids, ['pending'], clock.now());
    expect(routed).toEqual(stored);
    // The first 'score' message gave way to the second; the scheduled one waits; the unknown target
    // failed; per device high priority first, then acceptance order.
    const expected: Record<string, number[]> = { [d1]: [5, 2], [d2]: [3, 5, 1, 6] };
    const inOrder = [d1, d2].sort().flatMap((device) => expected[device]!.map((index) => [device, index]));
    expect(routed.map((d) => [d.deviceId, ids.indexOf(d.messageId)])).toEqual(inOrder);
  });

  it('a group message’s deliveries carry its priority to the transport', async () => {
    const app = `aprio-${randomToken(4)}`;
    await bus.publish(Topics.registry, [application(app, p1, true, 1)]);
    const device = newDevice();
    await register(device, app);
    await presence.set(device, 't-1', 3600);
    const messageId = await send({ ...accepted(p1, { type: 'application', value: app }), priority: 'high' });
    await fannedOut(messageId);
    expect(deliveries('t-1').filter((d) => d.messageId === messageId)).toEqual([expect.objectContaining({ deviceId: device, priority: 'high' })]);
  });
});
