import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { announceReady, exitOnStartupFailure } from '@borealis/platform';
import { runStandalone } from '@borealis/runtime';
import { UsageError } from './usage';

const SERVICES = ['auth', 'gateway', 'push-core', 'transport'];

export async function serveCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { service: { type: 'string' } }, strict: true });
  if (values.service !== undefined) {
    if (!SERVICES.includes(values.service)) throw new UsageError(`unknown service "${values.service}" (${SERVICES.join(', ')})`);
    // A service alone is its deployable app: run its compiled entry point in this process.
    require(join(__dirname, '..', '..', values.service, 'src', 'main.js'));
    return;
  }
  try {
    const running = await runStandalone();
    announceReady({ mode: 'standalone', http: running.httpUrl, device: running.deviceUrl, dataDir: running.dataDir });
    process.stderr.write(
      [
        '',
        'Borealis is running (standalone: all services in this process, embedded PostgreSQL).',
        `  HTTP API   ${running.httpUrl}   (auth /auth/public, push /push/public/api/v1, health /healthz)`,
        `  Devices    ${running.deviceUrl}`,
        `  Data       ${running.dataDir}`,
        '  Next       npx borealis admin quickstart --out ./my-project',
        '',
      ].join('\n') + '\n',
    );
  } catch (err) {
    exitOnStartupFailure('standalone', err);
  }
}
