import { EventEmitter } from 'node:events';
import type { AppEndpoint, PushDaemon } from './push-daemon';
import { PushError, type Push, type PushErrorCode } from './push';

export interface PushClientOptions {
  applicationId?: string;
  /** clientInactive is emitted after this long without notifications or calls. Default 30 s. */
  inactivityTimeoutMs?: number;
}

/** The signals of Aurora's PushClient, as Node events. */
export interface PushClientEvents {
  pushSystemReadinessChanged: [ready: boolean];
  registrationId: [registrationId: string];
  registrationError: [error: PushError];
  notifications: [pushList: Push[]];
  clientInactive: [];
}

/**
 * One app's view of the push system, mirroring Aurora's PushClient: set the applicationId, call
 * registrate(), send the registrationId to the app server, and receive `notifications`.
 */
export class PushClient extends EventEmitter<PushClientEvents> {
  private appId = '';
  private lastError: PushError | null = null;
  private inactivityTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly inactivityTimeoutMs: number;
  private readonly endpoint: AppEndpoint;

  constructor(
    private readonly daemon: PushDaemon,
    options: PushClientOptions = {},
  ) {
    super();
    this.inactivityTimeoutMs = options.inactivityTimeoutMs ?? 30_000;
    const currentApplicationId = () => this.appId;
    this.endpoint = {
      get applicationId() {
        return currentApplicationId();
      },
      deliver: (pushes) => {
        this.touch();
        this.emit('notifications', pushes);
      },
      registrationChanged: (registrationId) => {
        this.lastError = null;
        this.emit('registrationId', registrationId);
      },
      registrationFailed: (error) => this.fail(error),
      readinessChanged: (ready) => this.emit('pushSystemReadinessChanged', ready),
    };
    this.appId = options.applicationId ?? '';
    daemon.attach(this.endpoint);
    this.touch();
  }

  get applicationId(): string {
    return this.appId;
  }

  /** Only notifications for this applicationId reach the client. */
  setApplicationId(applicationId: string): void {
    this.touch();
    if (applicationId === this.appId) return;
    this.daemon.detach(this.endpoint);
    this.appId = applicationId;
    if (!this.closed) this.daemon.attach(this.endpoint);
  }

  get isPushSystemReady(): boolean {
    return this.daemon.isReady;
  }

  /** The code of the last failed registration, null after a successful one. */
  get error(): PushErrorCode | null {
    return this.lastError?.code ?? null;
  }

  get errorMessage(): string {
    return this.lastError?.message ?? '';
  }

  /**
   * Aurora registrate(): emits `registrationId` on success (every time, even when unchanged) or
   * `registrationError` on failure. Never rejects; resolves with the id, or null on failure.
   */
  async registrate(): Promise<string | null> {
    this.touch();
    const applicationId = this.appId;
    if (!applicationId) return this.fail(new PushError('invalid_argument', 'setApplicationId() before registrate()'));
    let registrationId: string;
    try {
      registrationId = await this.daemon.register(applicationId);
    } catch (err) {
      return this.fail(err instanceof PushError ? err : new PushError('internal', (err as Error).message));
    }
    this.touch();
    this.lastError = null;
    this.emit('registrationId', registrationId);
    return registrationId;
  }

  /** Removes this app's registration: the server stops accepting pushes for it. */
  async unregister(): Promise<void> {
    this.touch();
    await this.daemon.unregister(this.requireApplicationId());
  }

  /** Borealis extension: receive pushes sent to these topics. */
  async subscribe(topics: string[]): Promise<void> {
    this.touch();
    await this.daemon.subscribe(this.requireApplicationId(), topics);
  }

  async unsubscribe(topics: string[]): Promise<void> {
    this.touch();
    await this.daemon.unsubscribe(this.requireApplicationId(), topics);
  }

  /** Stops routing to this client and its inactivity timer. */
  close(): void {
    this.closed = true;
    this.daemon.detach(this.endpoint);
    if (this.inactivityTimer) clearTimeout(this.inactivityTimer);
    this.inactivityTimer = null;
  }

  private requireApplicationId(): string {
    if (!this.appId) throw new PushError('invalid_argument', 'setApplicationId() first');
    return this.appId;
  }

  private fail(error: PushError): null {
    this.lastError = error;
    this.emit('registrationError', error);
    return null;
  }

  /** Activity restarts the inactivity countdown; clientInactive fires once per idle spell. */
  private touch(): void {
    if (this.closed) return;
    if (this.inactivityTimer) clearTimeout(this.inactivityTimer);
    this.inactivityTimer = setTimeout(() => {
      this.inactivityTimer = null;
      this.emit('clientInactive');
    }, this.inactivityTimeoutMs);
    // An idle client must not keep the process alive on its own.
    this.inactivityTimer.unref();
  }
}
