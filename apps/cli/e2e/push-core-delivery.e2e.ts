import { join } from 'node:path';
import { Client } from 'pg';
import type { ProjectStatsV1 } from '@borealis/contracts';
import type { JsonLineProcess } from '@borealis/testing';
import { expectEventually } from '@borealis/testing';
import { expectOffline, expectReceived, pushIds, startCluster, type Cluster } from './push-core-cluster';
import { client, http, registrationIdOf, startDevice, type Project } from './support';

jest.setTimeout(240_000);

/**
 * push-core's delivery promises on the real services (distributed mode, two transport instances):
 * store-and-forward to whichever instance a device lands on, expiry, collapse, group fan-out,
 * exactly once to the app, per-project counters, and a kill -9 of push-core with 1,000 messages
 * in flight.
 */
describe('push-core delivery, end to end', () => {
  let cluster: Cluster;
  let project: Project;
  /** The application-target test's own project: exactly its 3 registrations. */
  let groupProject: Project;
  const devices: JsonLineProcess[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ transports: 2 });
    project = await cluster.project('delivery');
    groupProject = await cluster.project('group');
  });

  afterAll(async () => {
    await Promise.all(devices.map((d) => d.stop()));
    await cluster?.close();
  });

  function device(name: string, transport: number, of: Project = project): JsonLineProcess {
    const proc = startDevice(cluster.transports[transport]!, of.applicationId, join(cluster.work, name));
    devices.push(proc);
    return proc;
  }

  /** Registers a device on transport 0 and stops it: it is offline with a registration. */
  async function offlineDevice(name: string, of: Project = project): Promise<string> {
    const first = device(name, 0, of);
    const registrationId = await registrationIdOf(first);
    await first.stop();
    await expectOffline(join(cluster.work, name));
    return registrationId;
  }

  async function send(target: string, extra: { type?: 'device' | 'application'; ttl?: string; collapseKey?: string; title?: string; of?: Project } = {}): Promise<string> {
    const { id } = await client(extra.of ?? project).sendMessage({ target, type: extra.type ?? 'device', ttl: extra.ttl ?? '1h', collapseKey: extra.collapseKey, notification: { title: extra.title ?? 'push', message: 'm' } });
    return id;
  }

  async function status(messageId: string, of: Project): Promise<Record<string, unknown>> {
    return (await http(`${cluster.cores[0]}/internal/v1/projects/${of.projectId}/messages/${messageId}`)).body;
  }

  async function expectState(messageId: string, state: string, counts: Record<string, number>, of: Project = project): Promise<void> {
    await expectEventually(async () => expect(await status(messageId, of)).toMatchObject({ state, counts }), { timeoutMs: 20_000, intervalMs: 300 });
  }

  async function statsOf(of: Project, day: string): Promise<ProjectStatsV1['days']> {
    return ((await http(`${cluster.cores[0]}/internal/v1/projects/${of.projectId}/stats?from=${day}&to=${day}`)).body as unknown as ProjectStatsV1).days;
  }

  function expectOnce(proc: JsonLineProcess): void {
    const ids = pushIds(proc);
    expect(ids.length).toBe(new Set(ids).size);
  }

  it('delivers a message for an offline device when it connects, to the other transport instance', async () => {
    const registrationId = await offlineDevice('moving');
    const messageId = await send(registrationId);
    await expectState(messageId, 'stored', { pending: 1 });
    const again = device('moving', 1);
    await expectReceived(again, [messageId]);
    await expectState(messageId, 'delivered', { delivered: 1 });
    expectOnce(again);
  });

  it('never delivers an expired message, and shows it expired', async () => {
    const registrationId = await offlineDevice('late');
    const expired = await send(registrationId, { ttl: '1s' });
    await expectState(expired, 'expired', { expired: 1 });
    const later = await send(registrationId);
    const again = device('late', 1);
    await expectReceived(again, [later]);
    expect(pushIds(again)).not.toContain(expired);
  });

  it('replaces a pending message by a newer one with the same collapse key', async () => {
    const registrationId = await offlineDevice('collapsing');
    const older = await send(registrationId, { collapseKey: 'score', title: 'older' });
    await expectState(older, 'stored', { pending: 1 });
    const newer = await send(registrationId, { collapseKey: 'score', title: 'newer' });
    await expectState(older, 'expired', { expired: 1 });
    const again = device('collapsing', 0);
    await expectReceived(again, [newer]);
    expect(pushIds(again)).not.toContain(older);
  });

  it('reaches all 3 registrations of an application (2 online on two instances, 1 offline) once the third connects', async () => {
    await offlineDevice('group-3', groupProject);
    const online = [device('group-1', 0, groupProject), device('group-2', 1, groupProject)];
    await Promise.all(online.map((d) => registrationIdOf(d)));
    const messageId = await send(groupProject.applicationId, { type: 'application', of: groupProject });
    for (const d of online) await expectReceived(d, [messageId]);
    await expectState(messageId, 'stored', { pending: 1 }, groupProject);
    const third = device('group-3', 1, groupProject);
    await expectReceived(third, [messageId]);
    await expectState(messageId, 'delivered', { delivered: 3 }, groupProject);
    for (const d of [...online, third]) expectOnce(d);
  });

  it('keeps the project counters in step with the deliveries', async () => {
    const today = new Date().toISOString().slice(0, 10);
    await expectEventually(
      async () => {
        // Messages: moving 1, late 2, collapsing 2; delivered one each; expired: the TTL-1s message
        // and the collapsed one. The group project: one message, three recipients.
        expect(await statsOf(project, today)).toEqual([{ date: today, accepted: 5, delivered: 3, expired: 2, failed: 0, cancelled: 0 }]);
        expect(await statsOf(groupProject, today)).toEqual([{ date: today, accepted: 1, delivered: 3, expired: 0, failed: 0, cancelled: 0 }]);
      },
      { timeoutMs: 20_000, intervalMs: 300 },
    );
  });

  it('survives kill -9 with 1,000 messages in flight: each delivered, none twice to the app, statuses right', async () => {
    const receivers = [device('fault-1', 0), device('fault-2', 1), device('fault-3', 0), device('fault-4', 1)];
    const targets = await Promise.all(receivers.map((d) => registrationIdOf(d)));
    const api = client(project);
    const sent: string[][] = receivers.map(() => []);
    let killed = false;
    const sendAll = async (from: number, to: number) => {
      const queue = Array.from({ length: to - from }, (_, i) => from + i);
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          for (let n = queue.shift(); n !== undefined; n = queue.shift()) {
            const { id } = await api.sendMessage({ target: targets[n % 4]!, type: 'device', ttl: '1h', notification: { title: `fault ${n}`, message: 'm' } });
            sent[n % 4]!.push(id);
            if (n >= 250 && !killed) {
              killed = true;
              cluster.pushCore[0]!.child.kill('SIGKILL');
            }
          }
        }),
      );
    };
    await sendAll(0, 1000);
    await cluster.pushCore[0]!.exited;
    await cluster.restartCore(0);

    const all = sent.flat();
    expect(all).toHaveLength(1000);
    for (const [i, d] of receivers.entries()) await expectReceived(d, sent[i]!, 90_000);
    for (const d of receivers) expectOnce(d);

    const db = new Client({ connectionString: cluster.coreDatabaseUrl });
    await db.connect();
    try {
      await expectEventually(
        async () => {
          const { rows } = await db.query<{ state: string; n: number }>('SELECT state, count(*)::int AS n FROM deliveries WHERE message_id = ANY($1) GROUP BY state', [all]);
          expect(rows).toEqual([{ state: 'delivered', n: 1000 }]);
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
    } finally {
      await db.end();
    }
  });
});
