import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, expectEventually, freePort, requireKafka, requireRedis, startCli, type JsonLineProcess, type TestDatabase } from '@borealis/testing';
import { randomToken } from '@borealis/util';
import { startIngress } from './ingress';
import { checkCancel, checkConsole, checkHostileInput, checkListing, checkMulticast, checkSendFlags, checkRegistrations, expectDelivered, http, quickstart, registrationIdOf, sendAndReceive, startDevice, type Installation, type Project } from './support';

jest.setTimeout(180_000);

/**
 * Distributed mode: auth, gateway, push-core and transport as four OS processes, each started with
 * `borealis serve --service X` and only environment configuration, on the real Kafka test
 * broker, the real PostgreSQL (a database per service) and Redis.
 */
describe('distributed mode, end to end', () => {
  const work = mkdtempSync(join(tmpdir(), 'borealis-distributed-'));
  const processes: JsonLineProcess[] = [];
  const databases: TestDatabase[] = [];
  let ingress: { url: string; close(): Promise<void> };
  let installation: Installation;
  let project: Project;
  let operatorToken: string;

  beforeAll(async () => {
    const kafka = requireKafka();
    const redis = requireRedis();
    const [authDb, coreDb] = [await createTestDatabase('auth'), await createTestDatabase('core')];
    databases.push(authDb, coreDb);
    const [authPort, gatewayPort, corePort, transportPort, devicePort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    ingress = await startIngress({ auth: `http://127.0.0.1:${authPort}`, gateway: `http://127.0.0.1:${gatewayPort}` });
    const adminToken = randomToken(32);
    const common = {
      KAFKA_BROKERS: kafka,
      KAFKA_TOPIC_CREATION: 'admin',
      KAFKA_SESSION_TIMEOUT_MS: '4000',
      KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
      KAFKA_MAX_WAIT_MS: '50',
      REDIS_URL: redis,
      HTTP_HOST: '127.0.0.1',
      BOREALIS_PUBLIC_URL: ingress.url,
    };
    const start = (service: string, env: Record<string, string>) => {
      const proc = startCli(['serve', '--service', service], { ...common, ...env }, service);
      processes.push(proc);
      return proc;
    };
    const started = [
      start('auth', {
        HTTP_PORT: String(authPort),
        DATABASE_URL: authDb.url,
        BOREALIS_ADMIN_TOKEN: adminToken,
        SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        BOREALIS_DEVICE_URL: `tcp://127.0.0.1:${devicePort}`,
        // The web console's push side: push-core's internal API, the gateway's send route, the overview.
        PUSH_CORE_URL: `http://127.0.0.1:${corePort}`,
        GATEWAY_URL: `http://127.0.0.1:${gatewayPort}`,
        CONSOLE_OVERVIEW_SERVICES: `gateway=http://127.0.0.1:${gatewayPort},push-core=http://127.0.0.1:${corePort},transport=http://127.0.0.1:${transportPort}`,
      }),
      start('push-core', { HTTP_PORT: String(corePort), DATABASE_URL: coreDb.url }),
      start('gateway', {
        HTTP_PORT: String(gatewayPort),
        AUTH_JWKS_URL: `http://127.0.0.1:${authPort}/auth/public/.well-known/jwks.json`,
        PUSH_CORE_URL: `http://127.0.0.1:${corePort}`,
      }),
      start('transport', {
        HTTP_PORT: String(transportPort),
        TRANSPORT_INSTANCE_ID: `t-${randomToken(4).toLowerCase().replace(/[^a-z0-9]/g, 'x')}`,
        DEVICE_HOST: '127.0.0.1',
        DEVICE_PORT: String(devicePort),
        DEVICE_CREDENTIAL_SECRET: randomToken(32),
        HEARTBEAT_INTERVAL_MS: '5000',
      }),
    ];
    await Promise.all(started.map((p) => p.waitFor((l) => l['event'] === 'ready', 60_000, 'ready')));
    // Ready to serve traffic once every consumer group has joined.
    for (const [service, port] of [
      ['auth', authPort],
      ['gateway', gatewayPort],
      ['push-core', corePort],
      ['transport', transportPort],
    ] as const) {
      await expectEventually(
        async () => {
          const answer = await http(`http://127.0.0.1:${port}/readyz`);
          // The answer names the check that is not ready: keep it in the failure message.
          if (answer.status !== 200) throw new Error(`${service}'s /readyz answered ${answer.status} ${JSON.stringify(answer.body)}`);
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
    }
    installation = { httpUrl: ingress.url, deviceUrl: `tcp://127.0.0.1:${devicePort}`, adminEnv: { BOREALIS_ADMIN_TOKEN: adminToken, SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') } };
    operatorToken = adminToken;
    project = await quickstart(installation, join(work, 'project-a'), 'project-a');
  });

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await ingress?.close();
    await Promise.all(databases.map((d) => d.drop()));
    rmSync(work, { recursive: true, force: true });
  });

  it('token → send → device receives → status delivered, across four processes', async () => {
    const device = startDevice(installation.deviceUrl, project.applicationId, join(work, 'device-1'));
    processes.push(device);
    const registrationId = await registrationIdOf(device);
    const messageId = await sendAndReceive(project, device, registrationId, 'distributed push');
    await expectDelivered(project, messageId);
  });

  it('serves the web console: a cookie session, a test send delivered and counted, the operator overview of the four services', async () => {
    processes.push(await checkConsole(installation, operatorToken, project, join(work, 'device-console'), ['auth', 'gateway', 'push-core', 'transport']));
  });

  it('a device that reconnects keeps its registrationId', async () => {
    const stateDir = join(work, 'device-2');
    const first = startDevice(installation.deviceUrl, project.applicationId, stateDir);
    const registrationId = await registrationIdOf(first);
    await first.stop();
    const again = startDevice(installation.deviceUrl, project.applicationId, stateDir);
    processes.push(again);
    expect(await registrationIdOf(again)).toBe(registrationId);
    await sendAndReceive(project, again, registrationId, 'after reconnect');
  });

  it('answers hostile input with precise errors and keeps serving', async () => {
    const other = await quickstart(installation, join(work, 'project-b'), 'project-b');
    await checkHostileInput(installation, project, other);
  });

  it('cancels a pending message: a device connecting afterwards never gets it', async () => {
    const other = await quickstart(installation, join(work, 'project-cancel-other'), 'project-cancel-other');
    processes.push(await checkCancel(installation, project, other, join(work, 'device-cancel')));
  });

  it('shows, lists the topics of and deletes a registration, for its own project only', async () => {
    const other = await quickstart(installation, join(work, 'project-registrations-other'), 'project-registrations-other');
    processes.push(await checkRegistrations(installation, project, other, join(work, 'device-registrations')));
  });

  it('lists a project’s messages newest first, page by page, by state and since', async () => {
    const other = await quickstart(installation, join(work, 'project-listing-other'), 'project-listing-other');
    await checkListing(installation, project, other);
  });

  it('multicasts one notification to several registrations, reporting foreign and malformed ids per recipient', async () => {
    const other = await quickstart(installation, join(work, 'project-multicast-other'), 'project-multicast-other');
    processes.push(...(await checkMulticast(installation, project, other, work)));
  });

  it('sends with --type, --priority, --collapse-key, --idempotency-key and --send-at from the CLI', async () => {
    processes.push(await checkSendFlags(installation, project, join(work, 'device-flags')));
  });
});
