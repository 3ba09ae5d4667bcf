import { parseArgs } from 'node:util';
import { loadProjectSettings, PushServerClient } from '@borealis/server-sdk';
import { printJson, required, UsageError } from './usage';

export async function sendCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      settings: { type: 'string' },
      target: { type: 'string' },
      title: { type: 'string' },
      message: { type: 'string' },
      data: { type: 'string' },
      ttl: { type: 'string' },
    },
    strict: true,
  });
  let data: Record<string, unknown> | undefined;
  if (values.data !== undefined) {
    try {
      data = JSON.parse(values.data) as Record<string, unknown>;
    } catch {
      throw new UsageError('--data must be a JSON object');
    }
  }
  const client = new PushServerClient(loadProjectSettings(required(values.settings, '--settings')));
  const result = await client.sendMessage({
    target: required(values.target, '--target'),
    type: 'device',
    ...(values.ttl !== undefined ? { ttl: values.ttl } : {}),
    // Each optional: --data alone sends a silent push; the server refuses a push with none.
    notification: {
      ...(values.title !== undefined ? { title: values.title } : {}),
      ...(values.message !== undefined ? { message: values.message } : {}),
      ...(data !== undefined ? { data } : {}),
    },
  });
  printJson(result);
}

export async function statusCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, options: { settings: { type: 'string' } }, allowPositionals: true, strict: true });
  const messageId = positionals[0];
  if (!messageId) throw new UsageError('MESSAGE_ID is required');
  const client = new PushServerClient(loadProjectSettings(required(values.settings, '--settings')));
  printJson(await client.getMessageStatus(messageId));
}
