import { Inject, Injectable } from '@nestjs/common';
import { DomainError, ErrorCode } from '@borealis/contracts';
import { AUTH_OPTIONS, resolveAccountLimits, type AuthModuleOptions } from '../auth-options';
import { hashPassword, verifyPassword } from './passwords';

/**
 * At most `limit` tasks at once, at most `queueLimit` waiting; a task beyond both is refused at
 * once rather than queued without bound.
 */
export class BoundedConcurrency {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly limit: number,
    private readonly queueLimit: number,
  ) {}

  /** Runs `task` when a slot is free; null (without running it) when the queue is full. */
  async run<T>(task: () => Promise<T>): Promise<T | null> {
    if (this.running >= this.limit) {
      if (this.waiting.length >= this.queueLimit) return null;
      // The slot is handed over by the task that finishes (`running` stays counted).
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  get inFlight(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }
}

/**
 * Password hashing (scrypt, about 100 ms and 32 MiB each) with bounded concurrency. scrypt runs on
 * libuv's threadpool, which jose's signing and verification (WebCrypto) share: unbounded, a flood of
 * logins fills every thread and token issuance waits behind it. Here at most a quarter of the
 * pool hashes at once (PASSWORD_HASH_CONCURRENCY), a bounded queue waits, and beyond it a login or
 * sign-up gets 503 with Retry-After at once.
 */
@Injectable()
export class PasswordHasher {
  private readonly slots: BoundedConcurrency;

  constructor(@Inject(AUTH_OPTIONS) options: Pick<AuthModuleOptions, 'accountLimits'>) {
    const limits = resolveAccountLimits(options.accountLimits);
    this.slots = new BoundedConcurrency(limits.hashConcurrency, limits.hashQueue);
  }

  hash(password: string): Promise<string> {
    return this.bounded(() => hashPassword(password));
  }

  verify(password: string, stored: string): Promise<boolean> {
    return this.bounded(() => verifyPassword(password, stored));
  }

  private async bounded<T>(task: () => Promise<T>): Promise<T> {
    const result = await this.slots.run(task);
    if (result === null) throw new DomainError(ErrorCode.Unavailable, 'too many sign-ins in progress; retry shortly', { retryAfterSeconds: 1 });
    return result;
  }
}
