import { startCli } from '@borealis/testing';

/** Runs the CLI to its end; its exit code and plain-text output. */
async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = startCli(args, {});
  const code = await proc.exited;
  const text = (stream: string) =>
    proc.text
      .filter((l) => l.startsWith(`${stream}: `))
      .map((l) => l.slice(stream.length + 2))
      .join('\n');
  return { code, stdout: text('stdout'), stderr: text('stderr') };
}

const COMMANDS = ['serve', 'admin', 'device', 'push-daemon', 'loadgen', 'send', 'status', 'cancel', 'registration'];

describe('borealis <command> --help', () => {
  it.each(COMMANDS)('%s --help prints its usage and exits 0 without running it', async (command) => {
    for (const flag of ['--help', '-h']) {
      const { code, stdout, stderr } = await run([command, flag]);
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      expect(stdout).toContain(`borealis ${command}`);
    }
  }, 30_000);

  it('send --help names every option', async () => {
    const { stdout } = await run(['send', '--settings', 'nowhere.yaml', '--help']);
    for (const option of ['--settings', '--target', '--type', '--title', '--message', '--data', '--ttl', '--priority', '--collapse-key', '--idempotency-key', '--send-at']) expect(stdout).toContain(option);
  }, 30_000);

  it('admin key create --help prints the admin operations', async () => {
    const { code, stdout } = await run(['admin', 'key', 'create', '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('key create --project ID --out DIR');
  }, 30_000);

  it('admin takes a key id that begins with a dash (one base64url id in 64 does) as the value of --key', async () => {
    // Port 9 (discard) has no server here: past the parsing, the request fails, naming the server.
    const { code, stderr } = await run(['admin', 'key', 'revoke', '--project', 'p-1', '--key', '-UGmYSLApx2IACA9kURrLA', '--server', 'http://127.0.0.1:9', '--token', 't']);
    expect(code).not.toBe(0);
    expect(stderr).not.toContain('option argument');
    expect(stderr).toContain('127.0.0.1:9');
  }, 30_000);

  it('refuses a bad option value with the allowed ones and exit code 2, before reading any file', async () => {
    for (const [args, message] of [
      [['send', '--settings', 'nowhere.yaml', '--target', 'r', '--title', 't', '--type', 'group'], '--type must be one of device, application, topic (got "group")'],
      [['send', '--settings', 'nowhere.yaml', '--target', 'r', '--title', 't', '--priority', 'urgent'], '--priority must be one of normal, high (got "urgent")'],
      [['send', '--settings', 'nowhere.yaml', '--target', 'a,b', '--title', 't', '--type', 'topic'], '--type must be device'],
      [['send', '--settings', 'nowhere.yaml', '--target', 'r', '--title', 't', '--send-at', 'tomorrow'], '--send-at must be a date-time like 2027-01-31T09:00:00Z (got "tomorrow")'],
      [['bogus', '--help'], 'unknown command "bogus"'],
    ] as const) {
      const { code, stderr } = await run([...args]);
      expect({ args, code }).toEqual({ args, code: 2 });
      expect(stderr).toContain(message);
    }
  }, 30_000);
});
