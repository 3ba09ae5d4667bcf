// Where a server's CPU goes, by stage of a push, from a V8 CPU profile (`node --cpu-prof`).
//
// Each sample is put in the stage of the innermost frame of the project's own code on its stack
// (libs/<lib>/src/<path>); a sample with no project frame goes by the innermost library frame that
// names one (fastify → HTTP, pg → the PostgreSQL client, ...), else to "Node and event loop".
// Asynchronous boundaries cut stacks: a query's reply is parsed under pg's socket callback, not
// under the code that sent it, so the PostgreSQL client's work is its own row, for every stage.
//
//   node tools/bench/lib/profile-stages.mjs PROFILE.cpuprofile [--from US --to US] [--per N]
//     prints the table (µs per push when --per gives the pushes, else ms).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** Stages, in the order a push meets them; rules on the project path (`libs/x/src/...`). */
export const STAGES = [
  'HTTP and auth',
  'validation',
  'bus',
  'push-core persistence',
  'routing',
  'device write',
  'receipts',
  'counters',
  'PostgreSQL client (pg)',
  'logging and metrics',
  'garbage collection',
  'Node and event loop',
  'other project code',
];

const PROJECT_RULES = [
  [/libs\/push-core\/src\/(persistence\/stats|domain\/stats|stats\/)/, 'counters'],
  [/libs\/push-core\/src\/(delivery\/(delivery-receipts|device-events)|domain\/(receipt|delivery-state|message-status))/, 'receipts'],
  [/libs\/push-core\/src\/delivery\/delivery-router/, 'routing'],
  [/libs\/push-core\/src\//, 'push-core persistence'],
  [/libs\/transport\/src\/inbox-consumer/, 'routing'],
  [/libs\/transport\/src\/sent-receipts/, 'receipts'],
  [/libs\/transport\/src\//, 'device write'],
  [/libs\/(protocol|device-sdk)\//, 'device write'],
  [/libs\/gateway\/src\/send\/send-request|libs\/contracts\//, 'validation'],
  [/libs\/messaging\//, 'bus'],
  [/libs\/(gateway|auth|keyvalue)\/src\//, 'HTTP and auth'],
  [/libs\/platform\/src\/(logging|metrics|log)/, 'logging and metrics'],
  [/libs\/platform\/src\/http/, 'HTTP and auth'],
];

const LIBRARY_RULES = [
  [/node_modules\/(pg|pg-protocol|pg-pool|pg-types|postgres-array|pgpass)\//, 'PostgreSQL client (pg)'],
  [/node_modules\/typeorm\//, 'push-core persistence'],
  [/node_modules\/(fastify|@fastify|find-my-way|light-my-request|avvio|@nestjs\/platform-fastify|jose|secure-json-parse|fast-json-stringify|content-type)\//, 'HTTP and auth'],
  [/node_modules\/zod\//, 'validation'],
  [/node_modules\/(kafkajs)\//, 'bus'],
  [/node_modules\/(protobufjs|@protobufjs|ws)\//, 'device write'],
  [/node_modules\/(pino|prom-client|sonic-boom|thread-stream)\//, 'logging and metrics'],
  [/node_modules\/(ioredis)\//, 'HTTP and auth'],
  [/node_modules\/(@nestjs|rxjs)\//, 'HTTP and auth'],
];

const IGNORED = new Set(['(idle)', '(program)', '(root)']);

/**
 * Milliseconds per stage in [fromUs, toUs] (the profile's clock: CLOCK_MONOTONIC, as
 * process.hrtime), plus the samples' total and the time the profile did not attribute (idle, program).
 */
export function stagesOf(profile, { fromUs = -Infinity, toUs = Infinity } = {}) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stageOf = new Map();
  const classify = (id) => {
    if (stageOf.has(id)) return stageOf.get(id);
    // Innermost project frame first, then innermost library frame.
    let library = null;
    let stage = null;
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at).callFrame;
      const url = f.url ?? '';
      if (f.functionName === '(garbage collector)') {
        stage = 'garbage collection';
        break;
      }
      const project = /libs\/[^/]+\/src\//.test(url) && !url.includes('node_modules');
      if (project) {
        stage = PROJECT_RULES.find(([re]) => re.test(url))?.[1] ?? 'other project code';
        break;
      }
      if (library === null) library = LIBRARY_RULES.find(([re]) => re.test(url))?.[1] ?? null;
    }
    stage ??= library ?? 'Node and event loop';
    stageOf.set(id, stage);
    return stage;
  };
  const ms = Object.fromEntries(STAGES.map((s) => [s, 0]));
  let t = profile.startTime;
  let total = 0;
  let unattributed = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    // A sample stands for the time until the next one.
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    if (t < fromUs || t > toUs) continue;
    const node = byId.get(profile.samples[i]);
    if (IGNORED.has(node.callFrame.functionName)) {
      unattributed += dt;
      continue;
    }
    ms[classify(node.id)] += dt;
    total += dt;
  }
  return { ms, total, unattributed };
}

/** Several processes' profiles summed, per stage. */
export function sumStages(list) {
  const ms = Object.fromEntries(STAGES.map((s) => [s, 0]));
  let total = 0;
  for (const r of list) {
    for (const s of STAGES) ms[s] += r.ms[s];
    total += r.total;
  }
  return { ms, total };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { from: { type: 'string' }, to: { type: 'string' }, per: { type: 'string' } } });
  const results = positionals.map((file) => stagesOf(JSON.parse(readFileSync(file, 'utf8')), { fromUs: Number(values.from ?? -Infinity), toUs: Number(values.to ?? Infinity) }));
  const { ms, total } = sumStages(results);
  const per = values.per ? Number(values.per) : null;
  for (const s of STAGES) {
    if (ms[s] === 0) continue;
    const figure = per ? `${((ms[s] * 1000) / per).toFixed(1)} µs/push` : `${ms[s].toFixed(0)} ms`;
    process.stdout.write(`${s.padEnd(26)} ${figure.padStart(16)}  ${((100 * ms[s]) / total).toFixed(1).padStart(5)} %\n`);
  }
  process.stdout.write(`${'total'.padEnd(26)} ${(per ? `${((total * 1000) / per).toFixed(1)} µs/push` : `${total.toFixed(0)} ms`).padStart(16)}\n`);
}
