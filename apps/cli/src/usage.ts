export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  return value;
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

/**
 * `--key -UGm...`: a value that begins with a dash joined to its option (`--key=-UGm...`), which
 * node's parseArgs would otherwise take for a missing value. Ids Borealis issues are base64url, so
 * one in 64 begins with `-`. Only for options that take a value, and only when what follows is not
 * itself one of the options: `--key --project P` still reports the missing value.
 */
export function joinDashValues(args: readonly string[], options: Readonly<Record<string, { type: 'string' | 'boolean' }>>): string[] {
  const isOption = (arg: string) => arg.startsWith('--') && Object.hasOwn(options, arg.slice(2).split('=')[0]!);
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    if (isOption(arg) && options[arg.slice(2)]?.type === 'string' && next !== undefined && next.startsWith('-') && !isOption(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}
