import 'reflect-metadata';
import { exitAfterWriting } from '@borealis/util';
import { UsageError } from './usage';

/** Each command's usage: `borealis COMMAND --help` prints its entry, `borealis help` all of them. */
const COMMAND_USAGE: Record<string, string> = {
  serve: `  serve [--service auth|gateway|push-core|transport]
      Without --service: standalone mode, all services in one process (BOREALIS_HTTP_PORT,
      BOREALIS_DEVICE_PORT, BOREALIS_DATA_DIR). With --service: that service alone, configured
      from the environment (KAFKA_BROKERS, DATABASE_URL, REDIS_URL, ...; docs/configuration.md).
`,
  admin: `  admin quickstart --out DIR [--server URL] [--token TOKEN] [--name NAME]
      Creates a tenant, project, service account key and application; writes
      DIR/push_notification_system.yaml and prints {"project_id","application_id"}.
  admin tenant|project|key|app|member|invite|audit|rotate-signing-key ...
      Operator and CI management of the registry; \`borealis admin help\` lists every operation.
`,
  device: `  device --server URL [--server URL ...] --app APPLICATION_ID [--state DIR] [--ca FILE] [--registration-secret SECRET]
      A simulated device (URL: tcp://, tls://, ws://HOST:PORT/device, wss://): prints JSON lines
      for registrationId, notifications and readiness.
`,
  'push-daemon': `  push-daemon --config FILE | --server URL [--server URL ...] --state DIR [--socket PATH] [--ca FILE]
      The device's push daemon: one connection to the service for every app and user of the
      device, apps served over a Unix socket (default /run/borealis-push/daemon.sock), installed
      apps launched for their pushes (docs/device.md). Prints JSON lines.
`,
  loadgen: `  loadgen --devices N --server URL [--apps M --app ID ...] [--processes P]
          [--source-addresses 127.0.0.1,127.0.0.2] [--rate PER_SECOND] [--duration SECONDS] [--receipts]
      Many simulated devices from several processes and source addresses; prints progress
      (with --receipts also every registration and every notification received, with its time).
`,
  send: `  send --settings FILE --target TARGET [--type device|application|topic]
       [--title T] [--message M] [--data JSON] [--ttl 1h] [--priority normal|high]
       [--collapse-key KEY] [--idempotency-key KEY] [--send-at RFC3339]
      Sends a push as an app server would; prints {"id": ...}. TARGET is a registration id
      (--type device, the default), an application id or a topic. Title, message and data are
      each optional (data alone: a silent push). --send-at schedules it (less than the TTL ahead).
      Several registration ids (up to 1,000, comma separated): one multicast; prints the id and
      each recipient's outcome.
`,
  status: `  status --settings FILE MESSAGE_ID
      Prints the message status.
`,
  cancel: `  cancel --settings FILE MESSAGE_ID
      Cancels a message: recipients not reached yet never get it; prints {"applied", ...status}.
`,
  registration: `  registration show|topics|delete --settings FILE REGISTRATION_ID
      One of the project's registrations (application, created, last seen, online, topics), its
      topics, or unregisters it (no further deliveries; the device learns at its next registrate).
`,
};

const USAGE = `usage: borealis <command> [options]     (borealis <command> --help: that command alone)

${Object.values(COMMAND_USAGE).join('')}`;

/** `--help` or `-h` among a command's arguments asks for its usage rather than running it. */
function wantsHelp(args: readonly string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

/**
 * Each command's module is loaded when it runs (`borealis send` does not load the server's: a
 * twentieth of the start time). require, not import(): the build emits CommonJS and keeps import() as it is.
 */
async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command !== undefined && command !== 'admin' && wantsHelp(rest)) {
    const usage = COMMAND_USAGE[command];
    if (!usage) throw new UsageError(`unknown command "${command}"`);
    process.stdout.write(`usage: borealis ${command} [options]\n\n${usage}`);
    return;
  }
  switch (command) {
    case 'serve':
      return (require('./serve') as typeof import('./serve')).serveCommand(rest);
    case 'admin':
      return (require('./admin') as typeof import('./admin')).adminCommand(rest);
    case 'device':
      return (require('./device') as typeof import('./device')).deviceCommand(rest);
    case 'push-daemon':
      return (require('./push-daemon') as typeof import('./push-daemon')).pushDaemonCommand(rest);
    case 'loadgen':
      return (require('./loadgen') as typeof import('./loadgen')).loadgenCommand(rest);
    case 'send':
      return (require('./send') as typeof import('./send')).sendCommand(rest);
    case 'status':
      return (require('./send') as typeof import('./send')).statusCommand(rest);
    case 'cancel':
      return (require('./send') as typeof import('./send')).cancelCommand(rest);
    case 'registration':
      return (require('./registration') as typeof import('./registration')).registrationCommand(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError || (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))) {
    exitAfterWriting(`borealis: ${(err as Error).message}\n\n${USAGE}`, 2);
    return;
  }
  exitAfterWriting(`borealis: ${err instanceof Error ? err.message : String(err)}\n`, 1);
});
