import 'reflect-metadata';
import { adminCommand } from './admin';
import { deviceCommand } from './device';
import { loadgenCommand } from './loadgen';
import { pushDaemonCommand } from './push-daemon';
import { registrationCommand } from './registration';
import { cancelCommand, sendCommand, statusCommand } from './send';
import { serveCommand } from './serve';
import { UsageError } from './usage';

const USAGE = `usage: borealis <command> [options]

  serve [--service auth|gateway|push-core|transport]
      Without --service: standalone mode, all services in one process (BOREALIS_HTTP_PORT,
      BOREALIS_DEVICE_PORT, BOREALIS_DATA_DIR). With --service: that service alone, configured
      from the environment (KAFKA_BROKERS, DATABASE_URL, REDIS_URL, ...; docs/configuration.md).
  admin quickstart --out DIR [--server URL] [--token TOKEN] [--name NAME]
      Creates a tenant, project, service account key and application; writes
      DIR/push_notification_system.yaml and prints {"project_id","application_id"}.
  admin tenant|project|key|app|member|invite|audit|rotate-signing-key ...
      Operator and CI management of the registry; \`borealis admin help\` lists every operation.
  device --server URL [--server URL ...] --app APPLICATION_ID [--state DIR] [--ca FILE] [--registration-secret SECRET]
      A simulated device (URL: tcp://, tls://, ws://HOST:PORT/device, wss://): prints JSON lines
      for registrationId, notifications and readiness.
  push-daemon --config FILE | --server URL [--server URL ...] --state DIR [--socket PATH] [--ca FILE]
      The device's push daemon: one connection to the service for every app and user of the
      device, apps served over a Unix socket (default /run/borealis-push/daemon.sock), installed
      apps launched for their pushes (docs/device.md). Prints JSON lines.
  loadgen --devices N --server URL [--apps M --app ID ...] [--processes P]
          [--source-addresses 127.0.0.1,127.0.0.2] [--rate PER_SECOND] [--duration SECONDS] [--receipts]
      Many simulated devices from several processes and source addresses; prints progress
      (with --receipts also every registration and every notification received, with its time).
  send --settings FILE --target REGISTRATION_ID[,REGISTRATION_ID...] [--title T] [--message M] [--data JSON] [--ttl 1h]
      Sends a push as an app server would; prints {"id": ...}. Several ids (up to 1,000, comma
      separated): one multicast; prints the id and each recipient's outcome.
  status --settings FILE MESSAGE_ID
      Prints the message status.
  cancel --settings FILE MESSAGE_ID
      Cancels a message: recipients not reached yet never get it; prints {"applied", ...status}.
  registration show|topics|delete --settings FILE REGISTRATION_ID
      One of the project's registrations (application, created, last seen, online, topics), its
      topics, or unregisters it (no further deliveries; the device learns at its next registrate).
`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serveCommand(rest);
    case 'admin':
      return adminCommand(rest);
    case 'device':
      return deviceCommand(rest);
    case 'push-daemon':
      return pushDaemonCommand(rest);
    case 'loadgen':
      return loadgenCommand(rest);
    case 'send':
      return sendCommand(rest);
    case 'status':
      return statusCommand(rest);
    case 'cancel':
      return cancelCommand(rest);
    case 'registration':
      return registrationCommand(rest);
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
    process.stderr.write(`borealis: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  process.stderr.write(`borealis: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
