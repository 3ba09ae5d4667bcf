// Compiles the project's C code with the machine's gcc into dist/native/ (part of `npm run build`):
// the push daemon's peer-credentials addon (N-API, against the headers of the Node running this
// script; no node-gyp, nothing downloaded).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/native');
const cc = process.env.CC || 'gcc';

function fail(message) {
  process.stderr.write(`build-native: ${message}\n`);
  process.exit(1);
}

try {
  execFileSync(cc, ['--version'], { stdio: 'ignore' });
} catch {
  fail(`no C compiler: "${cc}" could not be run. The push daemon and the C client library need gcc (Debian: apt-get install gcc libc6-dev).`);
}

// Node's own headers: shipped with the Node binary (include/node beside bin/), or named in NODE_INCLUDE_DIR.
const nodeInclude = process.env.NODE_INCLUDE_DIR || join(dirname(process.execPath), '..', 'include', 'node');
if (!existsSync(join(nodeInclude, 'node_api.h'))) {
  fail(`Node's headers are not at ${nodeInclude} (node_api.h missing): install Node with its headers or set NODE_INCLUDE_DIR.`);
}

const CFLAGS = ['-std=c11', '-O2', '-g', '-Wall', '-Wextra', '-Werror', '-fPIC', '-D_GNU_SOURCE'];

/** Runs gcc unless `target` is newer than every input. */
function compile(target, inputs, args) {
  const targetPath = join(out, target);
  if (existsSync(targetPath) && inputs.every((input) => statSync(input).mtimeMs < statSync(targetPath).mtimeMs)) return;
  try {
    execFileSync(cc, [...CFLAGS, ...args, '-o', targetPath], { stdio: 'inherit' });
  } catch {
    fail(`${cc} failed to build ${target}`);
  }
}

mkdirSync(out, { recursive: true });
const addon = join(root, 'libs/device-daemon/native/peercred.c');
compile('borealis_peercred.node', [addon], ['-shared', `-I${nodeInclude}`, addon]);

