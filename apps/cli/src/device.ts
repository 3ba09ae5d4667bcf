import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isSilentPush, PushDaemon, type PushError } from '@borealis/device-sdk';
import { printJson, UsageError } from './usage';

/**
 * A simulated device with one app: the device SDK's daemon and an Aurora-style client. Prints one
 * JSON line per event; acknowledges what it receives; reconnects when the server goes away (to the
 * next --server when several are given). Runs until interrupted.
 */
export async function deviceCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      server: { type: 'string', multiple: true },
      app: { type: 'string' },
      state: { type: 'string' },
      ca: { type: 'string' },
      'registration-secret': { type: 'string' },
    },
    strict: true,
  });
  if (!values.server?.length) throw new UsageError('--server is required');
  if (!values.app) throw new UsageError('--app is required');
  const daemon = new PushDaemon({
    server: values.server,
    clientName: 'borealis-cli-device',
    ...(values.state !== undefined ? { stateDir: values.state } : {}),
    ...(values.ca !== undefined ? { tls: { ca: readFileSync(values.ca) } } : {}),
    ...(values['registration-secret'] !== undefined ? { registrationSecrets: { [values.app]: values['registration-secret'] } } : {}),
  });
  const client = daemon.createClient({ applicationId: values.app, inactivityTimeoutMs: 2 ** 31 - 1 });

  client.on('pushSystemReadinessChanged', (ready) => printJson({ event: 'pushSystemReadinessChanged', ready }));
  client.on('registrationId', (registrationId) => printJson({ event: 'registrationId', registrationId }));
  client.on('registrationError', (error: PushError) => printJson({ event: 'registrationError', code: error.code, message: error.message }));
  client.on('notifications', (pushList) =>
    printJson({
      event: 'notifications',
      pushList: pushList.map((p) => ({ id: p.id, title: p.title, message: p.message, data: p.data, silent: isSilentPush(p), sentAt: p.sentAt.toISOString(), expiresAt: p.expiresAt.toISOString() })),
    }),
  );
  daemon.on('welcomed', (deviceId) => printJson({ event: 'welcomed', deviceId }));
  daemon.on('disconnected', (reason) => printJson({ event: 'disconnected', reason: reason.message }));
  daemon.on('warning', (error) => printJson({ event: 'warning', message: error.message }));

  const stop = () => {
    client.close();
    void daemon.stop().finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await daemon.start();
  // Like an app at launch. With a stored registrationId the server confirms the current pair; after
  // that the daemon re-registers by itself on every reconnect and reports a changed id.
  await client.registrate().catch(() => undefined);
}
