import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import {
  Topics,
  transportInboxTopic,
  type DeliveryReceiptV1,
  type DeliveryV1,
  type MessageAcceptedV1,
  type RegistrationReplyV1,
  type RegistrationRequestedV1,
  type TransportInboxV1,
} from '@borealis/contracts';
import { MemoryPresenceStore, MemoryRateLimiter, MemoryReplayGuard } from '@borealis/keyvalue';
import { InProcessMessageBus } from '@borealis/messaging';
import { configureHttpApp, createFastifyAdapter, PlatformModule } from '@borealis/platform';
import { createTestDatabase, type TestDatabase } from '@borealis/testing';
import { FixedClock, randomToken, uuidv7 } from '@borealis/util';
import { MessageStatusQuery, PushCoreModule } from './index';

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3600_000;
const INSTANCES = ['t-1', 't-2'] as const;

const clock = new FixedClock(T0);
const bus = new InProcessMessageBus({ maxAttempts: 3, retryBaseMs: 1 });
const presence = new MemoryPresenceStore(clock);
const inbox = new Map<string, TransportInboxV1[]>(INSTANCES.map((id) => [id, []]));

let database: TestDatabase;
let app: NestFastifyApplication;
let statuses: MessageStatusQuery;
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
      PushCoreModule.register({ databaseUrl: database.url, exposeInternalApi: true, consumerGroupPrefix: 'test.push-core' }),
    ],
  }).compile();
  app = moduleRef.createNestApplication<NestFastifyApplication>(createFastifyAdapter(), { logger: false, bodyParser: false });
  configureHttpApp(app);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  statuses = app.get(MessageStatusQuery);
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
  const value: RegistrationRequestedV1 = { correlationId: uuidv7(), replyTo: 't-1', applicationId: '', registrationId: '', topics: [], atMs: clock.now(), ...fields };
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

  it('answers a redelivered request with the same registration', async () => {
    const value: RegistrationRequestedV1 = {
      correlationId: uuidv7(),
      replyTo: 't-2',
      deviceId: newDevice(),
      op: 'register',
      applicationId: a1,
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
      { value: { correlationId, replyTo: 'Not_An_Instance', deviceId: newDevice(), op: 'register', applicationId: a1, registrationId: '', topics: [], atMs: 0 } },
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
      counts: { pending: 0, sent: 0, delivered: 1, expired: 0, failed: 0 },
      recipients: [{ registrationId, state: 'delivered', updatedAt: new Date(T0 + 2000).toISOString() }],
    });

    // Terminal: a late not_held or sent receipt changes nothing.
    await receipt('not_held', device, 't-1', [message.messageId]);
    await receipt('sent', device, 't-1', [message.messageId]);
    expect(await deliveryRows(message.messageId)).toEqual([{ registration_id: registrationId, state: 'delivered' }]);
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
    const recipients = (await statuses.getStatus(p1, toApp))!.recipients.map((r) => r.registrationId);
    expect(recipients).toEqual(expect.arrayContaining([r1, r2]));
    expect(recipients).not.toContain(r3);
    expect(deliveries('t-1').map((d) => [d.messageId, d.registrationId])).toEqual([[toApp, r1]]);

    const toTopic = await send(accepted(p1, { type: 'topic', value: 'fanout-topic' }));
    expect((await statuses.getStatus(p1, toTopic))!.recipients.map((r) => r.registrationId)).toEqual([r2]);

    const toForeignApp = await send(accepted(p1, { type: 'application', value: a2 }));
    expect(await statuses.getStatus(p1, toForeignApp)).toMatchObject({ state: 'failed', recipients: [] });
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
