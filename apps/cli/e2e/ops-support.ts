import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { AuthConfig, GatewayConfig, PushCoreConfig, TransportConfig } from '@borealis/platform';
import { REPO_ROOT } from '@borealis/testing';

/** Helpers for the deployment tests: the services' schemas, YAML files, a small Kustomize. */

export const SERVICES = ['auth', 'gateway', 'push-core', 'transport'] as const;
export type Service = (typeof SERVICES)[number];

type ObjectSchema = z.ZodObject<z.ZodRawShape>;
export const SCHEMAS: Record<Service, ObjectSchema> = {
  auth: AuthConfig as unknown as ObjectSchema,
  gateway: GatewayConfig as unknown as ObjectSchema,
  'push-core': PushCoreConfig as unknown as ObjectSchema,
  transport: TransportConfig as unknown as ObjectSchema,
};

/** Every environment variable a service reads: the keys of its schema. */
export function variablesOf(service: Service): string[] {
  return Object.keys(SCHEMAS[service].shape).sort();
}

/**
 * The variables that must be set wherever a service is deployed: those required, and those with a
 * default (set explicitly, so that a deployment says what it runs with). Optional variables without
 * a default switch a feature on (TLS, WebSocket) and may be left out.
 */
export function deployedVariablesOf(service: Service): string[] {
  return variablesOf(service).filter((v) => {
    const parsed = (SCHEMAS[service].shape[v] as z.ZodType).safeParse(undefined);
    return !parsed.success || parsed.data !== undefined;
  });
}

/** The default a variable takes when unset (the schema parses `undefined`), or undefined if required. */
export function defaultOf(service: Service, variable: string): unknown {
  const parsed = (SCHEMAS[service].shape[variable] as z.ZodType).safeParse(undefined);
  return parsed.success ? parsed.data : undefined;
}

export const repoPath = (...parts: string[]) => join(REPO_ROOT, ...parts);
export const readText = (...parts: string[]) => readFileSync(repoPath(...parts), 'utf8');

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are checked field by field below
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: any; data?: Record<string, string> };

export function readYamlDocuments<T = K8sObject>(file: string): T[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      return doc.toJS() as T;
    })
    .filter((doc) => doc !== null && doc !== undefined);
}

export function readCompose(): { services: Record<string, ComposeService> } {
  return parse(readText('docker-compose.yml'), { merge: true }) as { services: Record<string, ComposeService> };
}

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  user?: string;
  read_only?: boolean;
  cap_drop?: string[];
  ports?: string[];
  entrypoint?: string[];
  volumes?: string[];
  restart?: string;
}

/** `${NAME:-default}` as compose resolves it with NAME unset. */
export function composeValue(value: string): string {
  return String(value).replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
}

interface Kustomization {
  resources?: string[];
  patches?: { path?: string; patch?: string; target?: { kind?: string; name?: string } }[];
  images?: { name: string; newTag?: string }[];
  namespace?: string;
}

/**
 * Builds a Kustomize directory the way `kustomize build` does for the features deploy/ uses:
 * resources (files and directories), strategic-merge patches (maps merge, lists replace),
 * JSON 6902 `replace`/`add` patches with a kind/name target, image tags and the namespace.
 */
export function kustomize(dir: string): K8sObject[] {
  const k = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization;
  let objects: K8sObject[] = [];
  for (const resource of k.resources ?? []) {
    const path = join(dir, resource);
    if (!existsSync(path)) throw new Error(`${dir}: resource ${resource} does not exist`);
    objects.push(...(existsSync(join(path, 'kustomization.yaml')) ? kustomize(path) : readYamlDocuments(path)));
  }
  for (const patch of k.patches ?? []) {
    if (patch.path) {
      for (const partial of readYamlDocuments(join(dir, patch.path))) {
        const target = objects.find((o) => o.kind === partial.kind && o.metadata.name === partial.metadata.name);
        if (!target) throw new Error(`${dir}/${patch.path}: patches ${partial.kind}/${partial.metadata.name}, which is not among the resources`);
        objects = objects.map((o) => (o === target ? (merge(o, partial) as K8sObject) : o));
      }
    } else {
      const targets = objects.filter((o) => (!patch.target?.kind || o.kind === patch.target.kind) && (!patch.target?.name || o.metadata.name === patch.target.name));
      if (targets.length === 0) throw new Error(`${dir}: a patch matches no resource`);
      for (const op of parse(patch.patch!) as { op: string; path: string; value: unknown }[]) {
        for (const target of targets) applyOperation(target, op);
      }
    }
  }
  for (const object of objects) {
    if (k.namespace && object.kind !== 'Namespace') (object.metadata as { namespace?: string }).namespace = k.namespace;
    for (const container of podSpecOf(object)?.containers ?? []) {
      const image = k.images?.find((i) => container.image.split(':')[0] === i.name);
      if (image?.newTag) container.image = `${image.name}:${image.newTag}`;
    }
  }
  return objects;
}

function merge(base: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch) || base === null || typeof base !== 'object' || Array.isArray(base)) return structuredClone(patch);
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(patch)) out[key] = key in out ? merge(out[key], value) : structuredClone(value);
  return out;
}

function applyOperation(object: K8sObject, op: { op: string; path: string; value: unknown }): void {
  if (op.op !== 'replace' && op.op !== 'add') throw new Error(`unsupported patch operation ${op.op}`);
  const keys = op.path.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let node = object as unknown as Record<string, unknown>;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
  const last = keys[keys.length - 1]!;
  if (op.op === 'replace' && !(last in node)) throw new Error(`${object.kind}/${object.metadata.name}: nothing to replace at ${op.path}`);
  node[last] = op.value;
}

export interface Container {
  name: string;
  image: string;
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } } }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  startupProbe?: { httpGet?: { path: string; port: string | number } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; runAsNonRoot?: boolean; privileged?: boolean; capabilities?: { drop?: string[] } };
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  terminationGracePeriodSeconds?: number;
}

export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'Job', 'DaemonSet', 'CronJob'];

export function podSpecOf(object: K8sObject): PodSpec | undefined {
  if (!WORKLOAD_KINDS.includes(object.kind)) return undefined;
  return (object.kind === 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec) as PodSpec;
}

export function podLabelsOf(object: K8sObject): Record<string, string> {
  return (object.spec.template.metadata.labels ?? {}) as Record<string, string>;
}

/** The service an image belongs to: `borealis/<service>[:tag]`. */
export function serviceOfImage(image: string): string | undefined {
  return /^borealis\/([a-z-]+)(:|$)/.exec(image)?.[1];
}

/**
 * The environment a container would see, with placeholders for what the cluster supplies (secret
 * values that are never committed, the pod name), so that it can be run through the schema.
 */
export function containerEnvironment(container: Container, objects: K8sObject[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (!source.configMapRef) throw new Error(`${container.name}: envFrom must reference ConfigMaps (secrets by key, in env)`);
    const map = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === source.configMapRef!.name);
    if (!map) throw new Error(`${container.name}: ConfigMap ${source.configMapRef.name} does not exist`);
    Object.assign(env, map.data);
  }
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
    else if (variable.valueFrom?.secretKeyRef) env[variable.name] = placeholderSecret(variable.name);
    else if (variable.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[variable.name] = 'transport-0';
    else throw new Error(`${container.name}: ${variable.name} has an unsupported source`);
  }
  return env;
}

function placeholderSecret(name: string): string {
  if (name === 'DATABASE_URL') return 'postgres://user:secret@postgres:5432/db';
  if (name === 'REDIS_URL') return 'redis://:secret@redis:6379';
  if (name === 'SIGNING_KEY_ENCRYPTION_KEY') return Buffer.alloc(32, 7).toString('base64');
  return 's'.repeat(40);
}

/** Metric names an expression uses (histogram suffixes removed), ignoring recording-rule names. */
export function metricNamesIn(expr: string): string[] {
  return [...expr.matchAll(/\b(borealis_[a-z_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, ''));
}

export function filesUnder(dir: string, ext: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path, ext));
    else if (entry.name.endsWith(ext)) out.push(path);
  }
  return out;
}

/** Validates objects against the Kubernetes JSON schemas (kubernetes-models, offline). */
export function validateKubernetes(objects: K8sObject[]): { kind: string; name: string; error: string }[] {
  const script = join(dirname(__filename), 'k8s-validate.mjs');
  const out = execFileSync(process.execPath, [script], { cwd: REPO_ROOT, input: JSON.stringify(objects), encoding: 'utf8' });
  return JSON.parse(out) as { kind: string; name: string; error: string }[];
}
