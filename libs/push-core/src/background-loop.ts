import type { Logger } from '@nestjs/common';
import { backoffDelay } from '@borealis/util';

/**
 * Runs `step` over and over: again at once while it reports more work, else after `idleMs` or a
 * `kick`, whichever comes first; after failures, with backoff. `stop` waits for the current step.
 */
export class BackgroundLoop {
  private stopping = false;
  private kicked = false;
  private wake: (() => void) | null = null;
  private done: Promise<void> = Promise.resolve();

  constructor(
    private readonly name: string,
    private readonly step: () => Promise<boolean>,
    private readonly idleMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.stopping = false;
    this.done = this.run();
  }

  /** There is new work: run the next step now (or right after the current one). */
  kick(): void {
    this.kicked = true;
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.done;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      this.kicked = false;
      let more = false;
      try {
        more = await this.step();
        failures = 0;
      } catch (err) {
        failures++;
        this.logger.error({ msg: `${this.name} failed; retrying`, error: err instanceof Error ? err.message : String(err), failures });
      }
      if (this.stopping || ((more || this.kicked) && failures === 0)) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(finish, failures > 0 ? backoffDelay(failures, 100, Math.max(this.idleMs, 1000)) : this.idleMs);
        function finish(): void {
          clearTimeout(timer);
          resolve();
        }
        this.wake = finish;
      });
      this.wake = null;
    }
  }
}
