import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseDaemonConfig, startPushDaemonService } from '@borealis/device-daemon';
import { printJson, UsageError } from './usage';

/**
 * `borealis push-daemon`: the device's push daemon (docs/device.md). Configuration from --config
 * (JSON), with --server, --state, --socket and --ca overriding it; one JSON line per event.
 */
export async function pushDaemonCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      server: { type: 'string', multiple: true },
      state: { type: 'string' },
      socket: { type: 'string' },
      ca: { type: 'string' },
    },
    strict: true,
  });
  let fromFile: Record<string, unknown> = {};
  if (values.config !== undefined) {
    try {
      fromFile = JSON.parse(readFileSync(values.config, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new UsageError(`--config ${values.config}: ${(err as Error).message}`);
    }
  }
  const merged = {
    ...fromFile,
    ...(values.server?.length ? { server: values.server } : {}),
    ...(values.state !== undefined ? { stateDir: values.state } : {}),
    // The flag, else the file, else the variable the client libraries also read.
    ...(values.socket !== undefined ? { socket: values.socket } : {}),
    ...(values.socket === undefined && fromFile['socket'] === undefined && process.env['BOREALIS_PUSH_SOCKET'] ? { socket: process.env['BOREALIS_PUSH_SOCKET'] } : {}),
    ...(values.ca !== undefined ? { ca: values.ca } : {}),
  };
  if (merged.server === undefined) throw new UsageError('--server (or "server" in --config) is required');
  if (merged.stateDir === undefined) throw new UsageError('--state (or "stateDir" in --config) is required');
  const service = await startPushDaemonService(parseDaemonConfig(merged), printJson);
  const stop = () => {
    void service.stop().finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
