import { parseArgs } from 'node:util';
import { loadProjectSettings, PushServerClient } from '@borealis/server-sdk';
import { printJson, required, UsageError } from './usage';

/** `borealis registration show|topics|delete --settings FILE REGISTRATION_ID`: the app server's view. */
export async function registrationCommand(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  const { values, positionals } = parseArgs({ args: rest, options: { settings: { type: 'string' } }, allowPositionals: true, strict: true });
  const registrationId = positionals[0];
  if (!registrationId) throw new UsageError('REGISTRATION_ID is required');
  const client = () => new PushServerClient(loadProjectSettings(required(values.settings, '--settings')));
  switch (action) {
    case 'show':
      return printJson(await client().getRegistration(registrationId));
    case 'topics':
      return printJson(await client().getRegistrationTopics(registrationId));
    case 'delete': {
      const { applied, registration } = await client().deleteRegistration(registrationId);
      return printJson({ applied, ...registration });
    }
    default:
      throw new UsageError(`registration needs show, topics or delete (got ${action === undefined ? 'nothing' : `"${action}"`})`);
  }
}
