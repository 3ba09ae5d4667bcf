// Compiles libs/contracts/src/proto/*.proto into a static protobufjs module and its typings.
// The output is generated at build time (npm ci runs it through `prepare`) and not committed.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const proto = join(root, 'libs/contracts/src/proto/device.proto');
const outDir = join(root, 'libs/contracts/src/generated');
const js = join(outDir, 'device.js');
const dts = join(outDir, 'device.d.ts');

if (existsSync(js) && existsSync(dts) && statSync(js).mtimeMs > statSync(proto).mtimeMs) process.exit(0);

mkdirSync(outDir, { recursive: true });
const bin = (name) => join(root, 'node_modules/.bin', name);
execFileSync(bin('pbjs'), ['-t', 'static-module', '-w', 'es6', '--no-verify', '--no-delimited', '--no-beautify', '-o', js, proto], { stdio: 'inherit' });
// protobufjs/minimal is CommonJS: import its default export rather than a namespace.
writeFileSync(js, readFileSync(js, 'utf8').replace('import * as $protobuf from "protobufjs/minimal";', 'import $protobuf from "protobufjs/minimal.js";'));
execFileSync(bin('pbts'), ['--no-comments', '-o', dts, js], { stdio: 'inherit' });
