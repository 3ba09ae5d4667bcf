import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';

/** The repository root (tests run from it; the CLI entry is apps/cli/bin/borealis.js). */
export const REPO_ROOT = join(__dirname, '..', '..', '..');
export const CLI = join(REPO_ROOT, 'apps', 'cli', 'bin', 'borealis.js');

/** How long an exited process's remaining output is waited for. */
const OUTPUT_AFTER_EXIT_MS = 2000;

/**
 * A child process whose stdout is read as JSON lines (the CLI's output format). Lines that are
 * not JSON (logs) are kept as text. `waitFor` resolves with the first line, past or future, that
 * matches.
 */
export class JsonLineProcess {
  readonly lines: Record<string, unknown>[] = [];
  readonly text: string[] = [];
  private readonly waiters = new Set<() => void>();
  private exitCode: number | null = null;
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess, readonly name: string) {
    const onLine = (line: string, stream: string) => {
      try {
        const parsed = JSON.parse(line) as unknown;
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) this.lines.push(parsed as Record<string, unknown>);
        else this.text.push(`${stream}: ${line}`);
      } catch {
        this.text.push(`${stream}: ${line}`);
      }
      if (this.text.length > 2000) this.text.splice(0, 1000);
      for (const wake of this.waiters) wake();
    };
    const readers = [
      createInterface({ input: child.stdout! }).on('line', (l) => onLine(l, 'stdout')),
      createInterface({ input: child.stderr! }).on('line', (l) => onLine(l, 'stderr')),
    ];
    const allRead = Promise.all(readers.map((reader) => new Promise<void>((resolve) => reader.once('close', () => resolve()))));
    this.exited = new Promise((resolve) =>
      child.on('exit', (code) => {
        // 'exit' may come before the pipes have given their last lines (a message printed just
        // before exiting): the process counts as exited once they are read, or after a bound, as
        // a process it started may still hold them open.
        const bound = new Promise<void>((done) => setTimeout(done, OUTPUT_AFTER_EXIT_MS).unref());
        void Promise.race([allRead, bound]).then(() => {
          this.exitCode = code ?? -1;
          for (const wake of this.waiters) wake();
          resolve(code);
        });
      }),
    );
  }

  /** Resolves with the first JSON line matching `predicate`; rejects on timeout or exit. */
  waitFor(predicate: (line: Record<string, unknown>) => boolean, timeoutMs = 30_000, what = 'a matching line'): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.lines.find(predicate);
        if (found) return finish(() => resolve(found));
        if (this.exitCode !== null) finish(() => reject(new Error(`${this.name} exited (${this.exitCode}) before ${what}\n${this.tail()}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms\n${this.tail()}`))), timeoutMs);
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** The last lines of output, for failure messages. */
  tail(n = 40): string {
    const json = this.lines.slice(-n).map((l) => JSON.stringify(l));
    return [...this.text.slice(-n), ...json].slice(-n).join('\n');
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<void> {
    if (this.exitCode !== null) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Starts `borealis <args>` (the built CLI) with extra environment variables. */
export function startCli(args: string[], env: Record<string, string>, name = `borealis ${args[0]}`): JsonLineProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, BOREALIS_BANNER: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new JsonLineProcess(child, name);
}

/** Runs `borealis <args>` to completion and returns its last JSON line; rejects on a non-zero exit. */
export async function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  const proc = startCli(args, env);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
  const code = await proc.exited;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`borealis ${args.join(' ')} exited with ${code}\n${proc.tail()}`);
  const last = proc.lines[proc.lines.length - 1];
  if (!last) throw new Error(`borealis ${args.join(' ')} printed no JSON\n${proc.tail()}`);
  return last;
}
