import { parseArgs } from 'node:util';
import { loadProjectSettings, PushServerClient } from '@borealis/server-sdk';
import { printJson, required, UsageError } from './usage';

const TARGET_TYPES = ['device', 'application', 'topic'] as const;
const PRIORITIES = ['normal', 'high'] as const;

/** The flag's value if it is one of `allowed`; a usage error naming them otherwise. */
function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${flag} must be one of ${allowed.join(', ')} (got "${value}")`);
  return value as T;
}

export async function sendCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      settings: { type: 'string' },
      target: { type: 'string' },
      type: { type: 'string' },
      title: { type: 'string' },
      message: { type: 'string' },
      data: { type: 'string' },
      ttl: { type: 'string' },
      priority: { type: 'string' },
      'collapse-key': { type: 'string' },
      'idempotency-key': { type: 'string' },
      'send-at': { type: 'string' },
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
  const target = required(values.target, '--target');
  const type = oneOf(values.type, TARGET_TYPES, '--type') ?? 'device';
  const priority = oneOf(values.priority, PRIORITIES, '--priority');
  const collapseKey = values['collapse-key'];
  const idempotencyKey = values['idempotency-key'];
  const sendAt = values['send-at'] === undefined ? undefined : new Date(values['send-at']);
  if (sendAt !== undefined && Number.isNaN(sendAt.getTime())) throw new UsageError(`--send-at must be a date-time like 2027-01-31T09:00:00Z (got "${values['send-at']}")`);
  const multicast = target.includes(',');
  if (multicast && type !== 'device') throw new UsageError('a comma-separated --target lists registration ids: --type must be device');
  const client = new PushServerClient(loadProjectSettings(required(values.settings, '--settings')));
  // Each optional: --data alone sends a silent push; the server refuses a push with none.
  const notification = {
    ...(values.title !== undefined ? { title: values.title } : {}),
    ...(values.message !== undefined ? { message: values.message } : {}),
    ...(data !== undefined ? { data } : {}),
  };
  const options = {
    ...(values.ttl !== undefined ? { ttl: values.ttl } : {}),
    ...(priority !== undefined ? { priority } : {}),
    ...(collapseKey !== undefined ? { collapseKey } : {}),
    ...(sendAt !== undefined ? { sendAt } : {}),
  };
  if (multicast) {
    // A list of registration ids: one multicast, each id's outcome printed.
    printJson(await client.sendMulticast({ registrationIds: target.split(','), ...options, ...(idempotencyKey !== undefined ? { idempotencyKey } : {}), notification }));
    return;
  }
  printJson(await client.sendMessage({ target, type, ...options, ...(idempotencyKey !== undefined ? { idempotencyKey } : {}), notification }));
}

export async function statusCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, options: { settings: { type: 'string' } }, allowPositionals: true, strict: true });
  const messageId = positionals[0];
  if (!messageId) throw new UsageError('MESSAGE_ID is required');
  const client = new PushServerClient(loadProjectSettings(required(values.settings, '--settings')));
  printJson(await client.getMessageStatus(messageId));
}

export async function cancelCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, options: { settings: { type: 'string' } }, allowPositionals: true, strict: true });
  const messageId = positionals[0];
  if (!messageId) throw new UsageError('MESSAGE_ID is required');
  const client = new PushServerClient(loadProjectSettings(required(values.settings, '--settings')));
  const { applied, status } = await client.cancelMessage(messageId);
  printJson({ applied, ...status });
}
