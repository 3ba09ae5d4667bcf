import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@borealis/testing';

const PLATFORM = join(REPO_ROOT, 'dist', 'libs', 'platform', 'src', 'index.js');
const UTIL = join(REPO_ROOT, 'dist', 'libs', 'util', 'src', 'index.js');

/** Runs a Node script as a service would fail to start, reading its stderr only after it exited. */
function failLate(script: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('close', (code) => resolve({ code, stderr: Buffer.concat(chunks).toString('utf8') }));
  });
}

describe('a service that fails to start', () => {
  beforeAll(() => {
    if (!existsSync(PLATFORM)) throw new Error(`${PLATFORM} is missing: run npm run build first (npm test does)`);
  });

  it.each([
    ['a configuration error', `new (require(${JSON.stringify(UTIL)}).ConfigError)('invalid configuration:\\n  SOME_VARIABLE: bad')`, 2, 'borealis test: invalid configuration:\n  SOME_VARIABLE: bad\n'],
    ['any other error', `new Error('the broker is gone')`, 1, 'borealis test: failed to start: Error: the broker is gone'],
  ])('says why (%s) and exits with its code, even when stderr is a full pipe', async (_, error, code, reason) => {
    // A megabyte on stderr first (a long log): the pipe is full and the reason has to wait its turn.
    const script = `process.stderr.write('x'.repeat(1 << 20)); require(${JSON.stringify(PLATFORM)}).exitOnStartupFailure('test', ${error});`;
    const result = await failLate(script);
    expect(result.code).toBe(code);
    expect(result.stderr.slice(1 << 20)).toContain(reason);
  });
});
