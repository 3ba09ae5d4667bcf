// Benchmark dispatcher: `node tools/bench.mjs <name> [args]` (or `npm run bench -- <name>`) runs
// tools/bench/<name>.mjs (or .js) with the remaining arguments. Benchmarks are never part of `npm test`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

const dir = path.join(import.meta.dirname, 'bench');
const [name, ...args] = process.argv.slice(2);
// Helpers shared by the benchmarks live in bench/lib/, so only files count.
const available = existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name.replace(/\.(mjs|js)$/, '')) : [];
const file = ['mjs', 'js'].map((ext) => path.join(dir, `${name}.${ext}`)).find((f) => existsSync(f));
if (!name || !file) {
  process.stderr.write(`usage: npm run bench -- <name> [args]; benchmarks: ${available.join(', ') || '(none)'}\n`);
  process.exit(2);
}
const result = spawnSync(process.execPath, [file, ...args], { stdio: 'inherit' });
process.exit(result.status ?? 1);
