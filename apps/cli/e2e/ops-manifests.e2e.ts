import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { Topics, transportInboxTopic } from '@borealis/contracts';
import { MetricNames, StandaloneConfig } from '@borealis/platform';
import {
  composeValue,
  containerEnvironment,
  defaultOf,
  deployedVariablesOf,
  filesUnder,
  kustomize,
  metricNamesIn,
  podLabelsOf,
  podSpecOf,
  readCompose,
  readText,
  readYamlDocuments,
  repoPath,
  SCHEMAS,
  serviceOfImage,
  SERVICES,
  validateKubernetes,
  variablesOf,
  WORKLOAD_KINDS,
  type Container,
  type PodSpec,
  type K8sObject,
  type Service,
} from './ops-support';

/**
 * The deployment artefacts, checked without a container engine or a cluster: Dockerfiles, the
 * compose stack, the Kustomize base and overlays, the observability files, the sample env files
 * and the configuration docs. The services' configuration schemas (libs/platform/src/config.ts)
 * are the reference for variables and default ports.
 */

const HTTP_PORT = Number(defaultOf('auth', 'HTTP_PORT'));
const DEVICE_PORT = Number(defaultOf('transport', 'DEVICE_PORT'));
/** WebSocket devices: no default in the code (the listener is optional); compose and Kubernetes must agree. */
const WS_PORT = Number(readCompose().services['transport-0']!.environment!['DEVICE_WS_PORT']);
const METRIC_NAMES = new Set<string>(Object.values(MetricNames));
const TOPIC_NAMES = Object.values(Topics).map((t) => t.name);

interface Dockerfile {
  stages: { name: string; lines: string[] }[];
  runtime: string[];
}

function readDockerfile(service: Service): Dockerfile {
  const text = readText('apps', service, 'Dockerfile').replace(/\\\n/g, ' ');
  const stages: Dockerfile['stages'] = [];
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) stages.push({ name: from[1] ?? `stage${stages.length}`, lines: [] });
    else stages[stages.length - 1]?.lines.push(line);
  }
  return { stages, runtime: stages[stages.length - 1]!.lines };
}

const instruction = (lines: string[], name: string) => lines.filter((l) => l.toUpperCase().startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim());

describe('Dockerfiles', () => {
  it.each(SERVICES)('%s: multi-stage from the swc build, production dependencies only, non-root, health check, its entry point', (service) => {
    const file = readDockerfile(service);
    expect(file.stages.length).toBeGreaterThanOrEqual(3);
    const all = file.stages.flatMap((s) => s.lines).join('\n');
    expect(all).toContain('npm run build');
    expect(all).toMatch(/npm ci --omit=dev/);
    const user = instruction(file.runtime, 'USER');
    expect(user).toHaveLength(1);
    expect(user[0]).not.toMatch(/^(root|0)(:|$)/);
    expect(instruction(file.runtime, 'HEALTHCHECK').join(' ')).toContain('/healthz');
    expect(instruction(file.runtime, 'COPY').join('\n')).toContain(`dist/apps/${service}`);
    const cmd = JSON.parse(instruction(file.runtime, 'CMD')[0]!) as string[];
    expect(cmd[0]).toBe('node');
    expect(cmd[cmd.length - 1]).toBe(`dist/apps/${service}/src/main.js`);
    expect(existsSync(repoPath('apps', service, 'src', 'main.ts'))).toBe(true);
    // Nothing in the runtime stage writes to the image's filesystem at run time.
    expect(instruction(file.runtime, 'VOLUME')).toEqual([]);
  });

  it.each(SERVICES)('%s: EXPOSE and ENV agree with the ports in the code', (service) => {
    const file = readDockerfile(service);
    const exposed = instruction(file.runtime, 'EXPOSE').flatMap((e) => e.split(/\s+/)).map(Number);
    const expected = service === 'transport' ? [HTTP_PORT, DEVICE_PORT, WS_PORT] : [HTTP_PORT];
    expect(exposed.sort()).toEqual(expected.sort());
    expect(Number(defaultOf(service, 'HTTP_PORT'))).toBe(HTTP_PORT);
    expect(instruction(file.runtime, 'ENV').join(' ')).toContain(`HTTP_PORT=${HTTP_PORT}`);
  });

  it('the build context leaves out what images must not contain', () => {
    const ignored = readText('.dockerignore').split('\n').map((l) => l.trim());
    for (const entry of ['.git', '**/node_modules', 'dist', '.data', '**/.env']) expect(ignored).toContain(entry);
  });
});

describe('docker-compose.yml', () => {
  const compose = readCompose();
  const borealis = Object.entries(compose.services).filter(([, s]) => s.image && serviceOfImage(s.image));

  it('runs the whole distributed stack', () => {
    const images = Object.values(compose.services).map((s) => s.image ?? '');
    expect(images.some((i) => i.startsWith('apache/kafka:'))).toBe(true);
    for (const prefix of ['postgres:', 'redis:', 'haproxy:']) expect(images.some((i) => i.startsWith(prefix))).toBe(true);
    const byService = (service: Service) => borealis.filter(([, s]) => serviceOfImage(s.image!) === service && s.environment?.['MIGRATE_ONLY'] !== 'true');
    expect(byService('auth')).toHaveLength(1);
    expect(byService('gateway')).toHaveLength(1);
    expect(byService('push-core')).toHaveLength(1);
    expect(byService('transport')).toHaveLength(2);
    expect(compose.services['kafka']!.environment!['KAFKA_PROCESS_ROLES']).toBe('broker,controller');
  });

  it('every Borealis image has its Dockerfile, and every service is configured completely and validly', () => {
    for (const [name, definition] of borealis) {
      const service = serviceOfImage(definition.image!) as Service;
      expect(SERVICES).toContain(service);
      expect(existsSync(repoPath('apps', service, 'Dockerfile'))).toBe(true);
      expect({ name, build: definition.build }).toEqual({ name, build: { context: '.', dockerfile: `apps/${service}/Dockerfile` } });
      const env = Object.fromEntries(Object.entries(definition.environment ?? {}).map(([k, v]) => [k, composeValue(v)]));
      expect({ name, missing: deployedVariablesOf(service).filter((v) => !(v in env)) }).toEqual({ name, missing: [] });
      expect({ name, unknown: Object.keys(env).filter((v) => !variablesOf(service).includes(v)) }).toEqual({ name, unknown: [] });
      const parsed = SCHEMAS[service].safeParse(env);
      expect({ name, issues: parsed.success ? [] : parsed.error.issues.map((i) => i.path.join('.')) }).toEqual({ name, issues: [] });
    }
  });

  it('auth and the gateway agree on the access-token lifetime', () => {
    const ttlOf = (name: string) => composeValue(compose.services[name]!.environment!['ACCESS_TOKEN_TTL_SECONDS']!);
    expect({ gateway: ttlOf('gateway') }).toEqual({ gateway: ttlOf('auth') });
  });

  it('hardens every Borealis container and orders start-up with health checks and depends_on conditions', () => {
    for (const [name, definition] of borealis) {
      expect({ name, user: definition.user }).toEqual({ name, user: expect.not.stringMatching(/^(root|0)(:|$)/) });
      expect({ name, readOnly: definition.read_only, caps: definition.cap_drop }).toEqual({ name, readOnly: true, caps: ['ALL'] });
      const migrating = definition.environment?.['MIGRATE_ONLY'] === 'true';
      if (!migrating) expect({ name, health: definition.healthcheck?.test.join(' ') }).toEqual({ name, health: expect.stringContaining('/readyz') });
      const conditions = Object.entries(definition.depends_on ?? {});
      expect(conditions.length).toBeGreaterThan(0);
      for (const [dependency, { condition }] of conditions) {
        expect(compose.services[dependency]).toBeDefined();
        expect(['service_healthy', 'service_completed_successfully']).toContain(condition);
        if (condition === 'service_healthy') expect(compose.services[dependency]!.healthcheck ?? readDockerfileHealth(compose.services[dependency]!.image)).toBeTruthy();
      }
    }
    for (const service of ['auth', 'push-core']) {
      const [name] = borealis.find(([, s]) => serviceOfImage(s.image!) === service && s.environment?.['MIGRATE_ONLY'] === 'false')!;
      const migrations = borealis.find(([, s]) => serviceOfImage(s.image!) === service && s.environment?.['MIGRATE_ONLY'] === 'true');
      expect(migrations).toBeDefined();
      expect(compose.services[name]!.depends_on![migrations![0]]).toEqual({ condition: 'service_completed_successfully' });
      expect(compose.services[name]!.depends_on!['kafka-topics']).toEqual({ condition: 'service_completed_successfully' });
    }
  });

  it('creates every topic of the contracts, and one inbox per transport instance', () => {
    const job = compose.services['kafka-topics']!;
    expect(job.depends_on!['kafka']).toEqual({ condition: 'service_healthy' });
    const script = readText('deploy', 'compose', 'create-topics.sh');
    for (const topic of TOPIC_NAMES) expect(script).toContain(topic);
    expect(script).toContain('borealis.transport.inbox.${instance}.v1');
    const instances = borealis.filter(([, s]) => serviceOfImage(s.image!) === 'transport').map(([, s]) => s.environment!['TRANSPORT_INSTANCE_ID']);
    expect(job.environment!['TRANSPORT_INSTANCES']!.split(' ').sort()).toEqual(instances.sort());
    for (const instance of instances) expect(transportInboxTopic(instance!).name).toBe(`borealis.transport.inbox.${instance}.v1`);
  });

  it('balances devices over the transports at L4 and routes HTTP by path, on the ports the code uses', () => {
    const haproxy = readText('deploy', 'compose', 'haproxy.cfg');
    expect(haproxy).toMatch(/mode tcp/);
    const transports = borealis.filter(([, s]) => serviceOfImage(s.image!) === 'transport');
    for (const [name, definition] of transports) {
      expect(definition.environment!['DEVICE_PORT']).toBe(String(DEVICE_PORT));
      expect(haproxy).toContain(`server ${name} ${name}:${DEVICE_PORT}`);
      expect(definition.environment!['DEVICE_WS_PORT']).toBe(String(WS_PORT));
      expect(haproxy).toContain(`server ${name} ${name}:${WS_PORT}`);
    }
    expect(haproxy).toContain(`check port ${HTTP_PORT}`);
    expect(haproxy).toContain('GET /readyz');
    for (const port of [DEVICE_PORT, WS_PORT]) expect(compose.services['device-lb']!.ports!.some((p) => composeValue(p).endsWith(`:${port}:${port}`))).toBe(true);
    expect(haproxy).toContain(`bind :${WS_PORT}`);
    const nginx = readText('deploy', 'compose', 'nginx.conf');
    // /push to the gateway, everything else to auth (the management API and the web console, ADR 8).
    expect(nginx).toContain(`location /push/ { set $gateway http://gateway:${HTTP_PORT};`);
    expect(nginx).toContain(`location / { set $auth http://auth:${HTTP_PORT};`);
    expect(nginx).toMatch(/location ~ \^\/\(metrics\|healthz\|readyz\)\$ \{ return 404; \}/);
    expect(nginx).toMatch(/location ~ \^\/internal\(\/\|\$\) \{ return 404; \}/);
    for (const [, definition] of borealis) expect(definition.environment!['HTTP_PORT']).toBe(String(HTTP_PORT));
  });
});

function readDockerfileHealth(image: string | undefined): boolean {
  const service = image ? serviceOfImage(image) : undefined;
  return !!service && readText('apps', service, 'Dockerfile').includes('HEALTHCHECK');
}

/** The invariants every build of deploy/ (base or overlay) must keep. */
function checkInstallation(objects: K8sObject[]): void {
  const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
  const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);

  // Valid against the Kubernetes schemas; only Strimzi's topics are outside them.
  const problems = validateKubernetes(objects);
  expect(problems.filter((p) => !(p.kind === 'KafkaTopic' && p.error === 'no schema'))).toEqual([]);

  const workloads = objects.filter((o) => WORKLOAD_KINDS.includes(o.kind));
  expect(workloads.length).toBeGreaterThan(0);
  for (const workload of workloads) {
    const pod = podSpecOf(workload)!;
    const where = `${workload.kind}/${workload.metadata.name}`;
    expect({ where, runAsNonRoot: pod.securityContext?.runAsNonRoot, uid: pod.securityContext?.runAsUser }).toEqual({ where, runAsNonRoot: true, uid: expect.any(Number) });
    expect(pod.securityContext!.runAsUser).toBeGreaterThan(0);
    for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
      const c = `${where}/${container.name}`;
      expect({ c, security: container.securityContext }).toEqual({
        c,
        security: expect.objectContaining({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } }),
      });
      expect({ c, requests: container.resources?.requests, limits: container.resources?.limits }).toEqual({
        c,
        requests: { cpu: expect.anything(), memory: expect.anything() },
        limits: { cpu: expect.anything(), memory: expect.anything() },
      });
      const service = serviceOfImage(container.image) as Service | undefined;
      expect({ c, service }).toEqual({ c, service: expect.any(String) });
      expect(existsSync(repoPath('apps', service!, 'Dockerfile'))).toBe(true);
      checkEnvironment(c, service!, container, objects, workload.kind === 'Job');
      if (workload.kind !== 'Job') checkProbes(c, container);
    }
  }

  // The three stateless services: Deployment, Service, HPA, PDB. The transport: StatefulSet.
  for (const name of ['auth', 'gateway', 'push-core']) {
    const deployment = find('Deployment', name)!;
    expect(deployment).toBeDefined();
    const hpa = find('HorizontalPodAutoscaler', name)!;
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(1);
    expect(hpa.spec.maxReplicas).toBeGreaterThanOrEqual(hpa.spec.minReplicas);
    expectPdbFor(objects, deployment);
    expectServiceFor(objects, name, deployment, HTTP_PORT);
  }
  // auth issues tokens that live ACCESS_TOKEN_TTL_SECONDS and the gateway refuses longer-lived ones.
  const ttlOf = (name: string) => containerEnvironment(podSpecOf(find('Deployment', name)!)!.containers[0]!, objects)['ACCESS_TOKEN_TTL_SECONDS'];
  expect({ gateway: ttlOf('gateway') }).toEqual({ gateway: ttlOf('auth') });
  const transport = find('StatefulSet', 'transport')!;
  expect(transport).toBeDefined();
  expectPdbFor(objects, transport);
  const headless = find('Service', transport.spec.serviceName)!;
  expect(headless.spec.clusterIP).toBe('None');
  expect(transport.spec.updateStrategy.type).toBe('RollingUpdate');
  const devices = byKind('Service').find((s) => s.spec.type === 'LoadBalancer')!;
  expect(devices.spec.ports.map((p: { port: number }) => p.port)).toEqual([DEVICE_PORT, WS_PORT]);
  expectServiceFor(objects, devices.metadata.name, transport, DEVICE_PORT);
  expectServiceFor(objects, devices.metadata.name, transport, WS_PORT);
  const transportEnv = containerEnvironment(podSpecOf(transport)!.containers[0]!, objects);
  expect(Number(transportEnv['DEVICE_PORT'])).toBe(DEVICE_PORT);
  expect(Number(transportEnv['DEVICE_WS_PORT'])).toBe(WS_PORT);
  // Long enough to drain: the shutdown delay, the spread GoAway, the devices' grace, then the bus.
  const drainSeconds = (Number(transportEnv['SHUTDOWN_DELAY_MS']) + Number(transportEnv['DEVICE_GOAWAY_SPREAD_MS']) + Number(transportEnv['DEVICE_DRAIN_GRACE_MS'])) / 1000;
  expect(podSpecOf(transport)!.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(drainSeconds + 10);
  expect(transport.spec.minReadySeconds).toBeGreaterThan(0);

  // A migrations Job for every service with a database.
  for (const service of SERVICES.filter((s) => variablesOf(s).includes('DATABASE_URL'))) {
    const job = byKind('Job').find((j) => podSpecOf(j)!.containers.some((c) => serviceOfImage(c.image) === service))!;
    expect({ service, job: job?.metadata.name }).toEqual({ service, job: expect.any(String) });
    expect(containerEnvironment(podSpecOf(job)!.containers[0]!, objects)['MIGRATE_ONLY']).toBe('true');
  }

  checkNetworkPolicies(objects);

  // Ingress: /auth → auth, /push → gateway, every other path → auth (the web console, ADR 8), except
  // the operations paths, sent to a Service that selects no pod.
  const ingress = byKind('Ingress');
  expect(ingress).toHaveLength(1);
  const routes = ingress[0]!.spec.rules.flatMap((r: { http: { paths: { path: string; backend: { service: { name: string } } }[] } }) => r.http.paths.map((p) => [p.path, p.backend.service.name]));
  expect(routes.sort()).toEqual(
    [
      ['/', 'auth'],
      ['/auth', 'auth'],
      ['/push', 'gateway'],
      ['/metrics', 'unrouted'],
      ['/healthz', 'unrouted'],
      ['/readyz', 'unrouted'],
      ['/internal', 'unrouted'],
    ].sort(),
  );
  const unrouted = find('Service', 'unrouted')!;
  const selector = Object.entries(unrouted.spec.selector as Record<string, string>);
  const selected = workloads.filter((w) => w.kind !== 'CronJob' && selector.every(([k, v]) => podLabelsOf(w)[k] === v));
  expect(selected.map((w) => w.metadata.name)).toEqual([]);

  // Every topic of the contracts, and an inbox for every transport replica.
  const topics = byKind('KafkaTopic');
  const declared = new Map<string, K8sObject>(topics.map((t) => [t.spec.topicName ?? t.metadata.name, t]));
  const inboxes = Array.from({ length: transport.spec.replicas as number }, (_, i) => transportInboxTopic(`${transport.metadata.name}-${i}`).name);
  for (const topic of [...TOPIC_NAMES, ...inboxes]) {
    const resource = declared.get(topic)!;
    expect({ topic, declared: !!resource }).toEqual({ topic, declared: true });
    expect(resource.apiVersion).toBe('kafka.strimzi.io/v1beta2');
    expect(resource.metadata.labels?.['strimzi.io/cluster']).toBeTruthy();
    expect(resource.spec.partitions).toBeGreaterThanOrEqual(1);
    expect(resource.spec.replicas).toBeGreaterThanOrEqual(1);
    expect(Number(resource.spec.config['min.insync.replicas'])).toBeLessThanOrEqual(resource.spec.replicas);
  }
  for (const topic of Object.values(Topics).filter((t) => t.compacted)) expect(declared.get(topic.name)!.spec.config['cleanup.policy']).toBe('compact');
}

function checkEnvironment(where: string, service: Service, container: Container, objects: K8sObject[], job: boolean): void {
  const env = containerEnvironment(container, objects);
  expect({ where, missing: deployedVariablesOf(service).filter((v) => !(v in env)) }).toEqual({ where, missing: [] });
  expect({ where, unknown: Object.keys(env).filter((v) => !variablesOf(service).includes(v)) }).toEqual({ where, unknown: [] });
  const parsed = SCHEMAS[service].safeParse(env);
  expect({ where, issues: parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) }).toEqual({ where, issues: [] });
  if (!job) expect({ where, migrateOnly: env['MIGRATE_ONLY'] }).not.toEqual({ where, migrateOnly: 'true' });
  // Secrets come from Secrets, never from a ConfigMap or a literal.
  for (const variable of ['DATABASE_URL', 'REDIS_URL', 'BOREALIS_ADMIN_TOKEN', 'SIGNING_KEY_ENCRYPTION_KEY', 'DEVICE_CREDENTIAL_SECRET', 'DEVICE_CREDENTIAL_PREVIOUS_SECRETS', 'KAFKA_SASL_PASSWORD'].filter((v) => v in env)) {
    expect({ where, variable, fromSecret: !!container.env?.find((e) => e.name === variable)?.valueFrom?.secretKeyRef }).toEqual({ where, variable, fromSecret: true });
  }
  const port = container.ports?.find((p) => p.name === 'http');
  if (port) expect(port.containerPort).toBe(Number(env['HTTP_PORT']));
  if (service === 'transport' && !job) {
    expect(container.ports?.find((p) => p.name === 'device')?.containerPort).toBe(Number(env['DEVICE_PORT']));
    expect(container.ports?.find((p) => p.name === 'websocket')?.containerPort).toBe(Number(env['DEVICE_WS_PORT']));
  }
}

function checkProbes(where: string, container: Container): void {
  expect({ where, liveness: container.livenessProbe?.httpGet, readiness: container.readinessProbe?.httpGet }).toEqual({
    where,
    liveness: { path: '/healthz', port: 'http' },
    readiness: { path: '/readyz', port: 'http' },
  });
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function expectPdbFor(objects: K8sObject[], workload: K8sObject): void {
  const pdb = objects.filter((o) => o.kind === 'PodDisruptionBudget').find((p) => matches(p.spec.selector.matchLabels, podLabelsOf(workload)));
  expect({ workload: workload.metadata.name, pdb: pdb?.metadata.name }).toEqual({ workload: workload.metadata.name, pdb: expect.any(String) });
}

function expectServiceFor(objects: K8sObject[], name: string, workload: K8sObject, port: number): void {
  const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === name)!;
  expect(matches(service.spec.selector, podLabelsOf(workload))).toBe(true);
  const servicePort = (service.spec.ports as { port: number; targetPort: string | number }[]).find((p) => p.port === port)!;
  expect({ name, port: servicePort?.port }).toEqual({ name, port });
  const container = podSpecOf(workload)!.containers[0]!;
  const target = container.ports!.find((p) => p.name === servicePort.targetPort || p.containerPort === servicePort.targetPort)!;
  expect(target.containerPort).toBe(port);
}

interface PolicyRule {
  from?: { podSelector?: object; namespaceSelector?: { matchLabels?: Record<string, string> }; ipBlock?: object }[];
  ports?: { port: number }[];
}

function checkNetworkPolicies(objects: K8sObject[]): void {
  const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
  const namespace = objects.find((o) => o.kind === 'Deployment')?.metadata as { namespace?: string };
  expect(policies.some((p) => Object.keys(p.spec.podSelector).length === 0 && p.spec.policyTypes.includes('Ingress') && !p.spec.ingress)).toBe(true);
  const pods = objects.filter((o) => ['Deployment', 'StatefulSet'].includes(o.kind)).map((w) => ({ name: w.metadata.name, labels: podLabelsOf(w) }));
  const selects = (policy: K8sObject, labels: Record<string, string>) => {
    const { matchLabels = {}, matchExpressions = [] } = policy.spec.podSelector as { matchLabels?: Record<string, string>; matchExpressions?: { key: string; values: string[] }[] };
    return matches(matchLabels, labels) && matchExpressions.every((e) => e.values.includes(labels[e.key]!));
  };
  const outside: Record<string, number[]> = {};
  for (const policy of policies) {
    for (const rule of (policy.spec.ingress ?? []) as PolicyRule[]) {
      const fromOutside = !rule.from || rule.from.some((f) => f.ipBlock || (f.namespaceSelector && f.namespaceSelector.matchLabels?.['kubernetes.io/metadata.name'] !== namespace?.namespace));
      const scrape = rule.from?.every((f) => f.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'monitoring');
      if (!fromOutside || scrape) continue;
      expect(rule.ports?.length).toBeGreaterThan(0);
      for (const pod of pods.filter((p) => selects(policy, p.labels))) outside[pod.name] = [...(outside[pod.name] ?? []), ...rule.ports!.map((p) => p.port)];
    }
  }
  expect(outside).toEqual({ auth: [HTTP_PORT], gateway: [HTTP_PORT], transport: [DEVICE_PORT, WS_PORT] });
}

describe('Kubernetes manifests (deploy/)', () => {
  it('the base lists every manifest file it holds', () => {
    const kustomization = parse(readText('deploy', 'base', 'kustomization.yaml')) as { resources: string[] };
    const files = filesUnder(repoPath('deploy', 'base'), '.yaml').map((f) => f.slice(repoPath('deploy', 'base').length + 1));
    expect(files.filter((f) => f !== 'kustomization.yaml').sort()).toEqual([...kustomization.resources].sort());
  });

  it('no Secret with values is committed', () => {
    for (const file of filesUnder(repoPath('deploy'), '.yaml')) {
      for (const doc of readYamlDocuments(file)) expect({ file, kind: doc.kind }).not.toEqual({ file, kind: 'Secret' });
    }
  });

  it('base: every workload is probed, bounded, non-root, fully configured; ports, topics and policies agree', () => {
    checkInstallation(kustomize(repoPath('deploy', 'base')));
  });

  it.each(['dev', 'production', 'kafka-sasl-ssl'])('overlay %s builds and keeps the invariants', (overlay) => {
    const objects = kustomize(repoPath('deploy', 'overlays', overlay));
    checkInstallation(objects);
    for (const o of objects) expect((o.metadata as { namespace?: string }).namespace).toBe(overlay === 'dev' ? 'borealis-dev' : 'borealis');
  });

  it('kafka-sasl-ssl: every workload mounts the Kafka Secret where its configuration reads the CA and the password', () => {
    const objects = kustomize(repoPath('deploy', 'overlays', 'kafka-sasl-ssl'));
    const workloads = objects.filter((o) => podSpecOf(o));
    expect(workloads.length).toBeGreaterThanOrEqual(6);
    for (const workload of workloads) {
      const spec = podSpecOf(workload)! as PodSpec & { volumes?: { name: string; secret?: { secretName: string; items?: { key: string; path: string }[] } }[] };
      for (const container of spec.containers) {
        const env = containerEnvironment(container, objects);
        expect(env).toMatchObject({ KAFKA_SSL: 'true', KAFKA_SASL_MECHANISM: 'scram-sha-512' });
        const mount = (container as Container & { volumeMounts?: { name: string; mountPath: string }[] }).volumeMounts?.find((m) => m.name === 'kafka-credentials');
        const volume = spec.volumes?.find((v) => v.name === 'kafka-credentials');
        expect({ workload: workload.metadata.name, secret: volume?.secret?.secretName }).toEqual({ workload: workload.metadata.name, secret: 'borealis-kafka' });
        const files = (volume?.secret?.items ?? []).map((i) => `${mount?.mountPath}/${i.path}`);
        expect(files).toEqual(expect.arrayContaining([env['KAFKA_SSL_CA_FILE'], env['KAFKA_SASL_PASSWORD_FILE']]));
      }
    }
  });

  it('production runs three transports, dev single-replica topics', () => {
    const production = kustomize(repoPath('deploy', 'overlays', 'production'));
    expect(production.find((o) => o.kind === 'StatefulSet')!.spec.replicas).toBe(3);
    const dev = kustomize(repoPath('deploy', 'overlays', 'dev'));
    expect(dev.filter((o) => o.kind === 'KafkaTopic').every((t) => t.spec.replicas === 1)).toBe(true);
  });
});

describe('observability (deploy/observability/)', () => {
  it('the Grafana dashboard charts the signals that matter, with metric names from the code', () => {
    const dashboard = JSON.parse(readText('deploy', 'observability', 'grafana-dashboard.json')) as { panels: { title: string; targets: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
    for (const name of exprs.flatMap(metricNamesIn)) expect(METRIC_NAMES).toContain(name);
    for (const needed of [MetricNames.messagesAccepted, MetricNames.deliveryLatency, MetricNames.deliveriesPending, MetricNames.deviceConnections, MetricNames.busConsumerLag, MetricNames.httpRequests]) {
      expect(exprs.some((e) => metricNamesIn(e).includes(needed))).toBe(true);
    }
  });

  it('the alert rules are well formed and use metric names from the code', () => {
    const rules = parse(readText('deploy', 'observability', 'prometheus-rules.yaml')) as { groups: { rules: { alert?: string; record?: string; expr: string; labels?: { severity?: string } }[] }[] };
    const all = rules.groups.flatMap((g) => g.rules);
    const alerts = all.filter((r) => r.alert);
    expect(alerts.length).toBeGreaterThanOrEqual(8);
    for (const rule of all) for (const name of metricNamesIn(rule.expr)) expect({ rule: rule.alert ?? rule.record, name, known: METRIC_NAMES.has(name) }).toEqual({ rule: rule.alert ?? rule.record, name, known: true });
    for (const alert of alerts) expect(['warning', 'critical']).toContain(alert.labels?.severity);
    const used = new Set(all.flatMap((r) => metricNamesIn(r.expr)));
    for (const signal of [MetricNames.messagesAccepted, MetricNames.deliveryLatency, MetricNames.deliveriesPending, MetricNames.devicesHeld, MetricNames.busConsumerLag, MetricNames.httpRequests, MetricNames.ready]) {
      expect(used).toContain(signal);
    }
  });
});

describe('configuration files and docs', () => {
  it.each(SERVICES)('apps/%s/.env.sample lists exactly the variables of its schema, each commented', (service) => {
    const text = readText('apps', service, '.env.sample');
    const lines = text.split('\n');
    // Optional features appear commented out (`# DEVICE_WS_PORT=5229`).
    const assignment = /^(?:# )?([A-Z][A-Z0-9_]+)=/;
    const keys = lines.filter((l) => assignment.test(l)).map((l) => assignment.exec(l)![1]!);
    expect(keys.sort()).toEqual(variablesOf(service));
    for (const key of deployedVariablesOf(service)) expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${key}=`)));
    for (const key of keys) expect(lines[lines.findIndex((l) => assignment.exec(l)?.[1] === key) - 1]).toMatch(/^# /);
  });

  it('docs/configuration.md documents every variable of every service and of standalone mode', () => {
    const doc = readText('docs', 'configuration.md');
    const standalone = Object.keys((StandaloneConfig as unknown as { shape: object }).shape);
    for (const variable of [...SERVICES.flatMap(variablesOf), ...standalone]) expect(doc).toContain(`\`${variable}\``);
  });

  it('docs/operations.md documents every metric', () => {
    const doc = readText('docs', 'operations.md');
    for (const name of METRIC_NAMES) expect(doc).toContain(name);
  });

  it('deploy/README.md names the Secret keys the manifests reference', () => {
    const readme = readFileSync(join(repoPath('deploy'), 'README.md'), 'utf8');
    const keys = new Set(
      kustomize(repoPath('deploy', 'base'))
        .flatMap((o) => podSpecOf(o)?.containers ?? [])
        .flatMap((c) => c.env ?? [])
        .flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef.key] : [])),
    );
    expect(keys.size).toBeGreaterThan(0);
    for (const key of keys) expect(readme).toContain(key);
  });
});
