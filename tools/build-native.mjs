// Compiles the project's C code with the machine's gcc into dist/native/ (part of `npm run build`):
// the push daemon's peer-credentials addon (N-API, against the headers of the Node running this
// script; no node-gyp, nothing downloaded) and the C client library libpushclient with its example.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/native');
const cc = process.env.CC || 'gcc';

function fail(message) {
  process.stderr.write(`build-native: ${message}\n`);
  process.exit(1);
}

/**
 * Only the device side (borealis push-daemon, libpushclient) needs the C code: the server runs
 * without it, so `npm ci && npm start` must not need a compiler. Without one the build says what
 * is skipped and goes on; BOREALIS_REQUIRE_NATIVE=1 (CI) makes it an error.
 */
function missing(message) {
  if (process.env.BOREALIS_REQUIRE_NATIVE === '1') fail(message);
  process.stderr.write(`build-native: ${message}\nbuild-native: skipped; the server does not need it, borealis push-daemon and libpushclient do.\n`);
  process.exit(0);
}

try {
  execFileSync(cc, ['--version'], { stdio: 'ignore' });
} catch {
  missing(`no C compiler: "${cc}" could not be run. The push daemon and the C client library need gcc (Debian: apt-get install gcc libc6-dev).`);
}

// Node's own headers: shipped with the Node binary (include/node beside bin/), or named in NODE_INCLUDE_DIR.
const nodeInclude = process.env.NODE_INCLUDE_DIR || join(dirname(process.execPath), '..', 'include', 'node');
if (!existsSync(join(nodeInclude, 'node_api.h'))) {
  missing(`Node's headers are not at ${nodeInclude} (node_api.h missing): install Node with its headers or set NODE_INCLUDE_DIR.`);
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

// libpushclient: one header, one shared library (soname with the IPC contract's major version),
// and the example program linked against it (found beside it through its rpath).
const clientDir = join(root, 'libs/push-client-c');
const clientSources = ['src/pushclient.c', 'src/json.c'].map((f) => join(clientDir, f));
const clientInputs = [...clientSources, join(clientDir, 'src/json.h'), join(clientDir, 'include/pushclient.h')];
compile('libpushclient.so.1', clientInputs, ['-shared', '-fvisibility=hidden', `-I${join(clientDir, 'include')}`, '-Wl,-soname,libpushclient.so.1', ...clientSources]);
// The name the linker looks for (-lpushclient), beside the one programs load (the soname).
rmSync(join(out, 'libpushclient.so'), { force: true });
symlinkSync('libpushclient.so.1', join(out, 'libpushclient.so'));
const example = join(clientDir, 'examples/push-client-example.c');
compile('push-client-example', [example, join(out, 'libpushclient.so.1'), join(clientDir, 'include/pushclient.h')], [`-I${join(clientDir, 'include')}`, example, `-L${out}`, '-lpushclient', '-Wl,-rpath,$ORIGIN']);
