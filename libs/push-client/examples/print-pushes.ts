/**
 * A small app on the push daemon: sets its applicationId, registers, and prints one JSON line per
 * event. Started by the launcher (BOREALIS_PUSH_LAUNCHED=1) it quits on clientInactive, as an app
 * in Aurora's background mode should.
 *
 *   node dist/libs/push-client/examples/print-pushes.js APPLICATION_ID [SOCKET_PATH]
 */
import { PushClient } from '../src';

function print(value: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

const [applicationId, socketPath] = process.argv.slice(2);
if (!applicationId) {
  process.stderr.write('usage: print-pushes APPLICATION_ID [SOCKET_PATH]\n');
  process.exit(2);
}
const launched = process.env['BOREALIS_PUSH_LAUNCHED'] === '1';
const client = new PushClient(socketPath ? { socketPath } : {});
client.on('pushSystemReadinessChanged', (ready) => print({ event: 'pushSystemReadinessChanged', ready }));
client.on('registrationId', (registrationId) => print({ event: 'registrationId', registrationId }));
client.on('registrationError', (error) => print({ event: 'registrationError', code: error.code, message: error.message }));
client.on('notifications', (pushList) =>
  print({ event: 'notifications', pushList: pushList.map((p) => ({ id: p.id, applicationId: p.applicationId, title: p.title, message: p.message, data: p.data })) }),
);
client.on('clientInactive', () => {
  print({ event: 'clientInactive' });
  if (launched) {
    client.close();
    process.exit(0);
  }
});
client.setApplicationId(applicationId);
print({ event: 'started', applicationId, launched, uid: process.getuid?.() ?? -1 });
void client.registrate();
process.on('SIGTERM', () => {
  client.close();
  process.exit(0);
});
