import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { DomainError, ErrorCode } from '@borealis/contracts';
import { RateLimiter } from '@borealis/keyvalue';
import { Clock, randomToken } from '@borealis/util';
import type { Actor } from '../access/access';
import { AccountsService, sessionTokenHash } from '../accounts/accounts.service';
import { AUTH_OPTIONS, resolveAccountLimits, type AuthModuleOptions } from '../auth-options';
import { AUTH_CONNECTION } from '../persistence/database';
import { OperatorSessionEntity } from '../persistence/entities';
import { CsrfTokens } from './csrf';

/** Operator console session tokens carry this prefix (account sessions: `bcs_`). */
export const OPERATOR_SESSION_PREFIX = 'bco_';
/** An operator session lives 12 hours, like an account's by default. */
export const OPERATOR_SESSION_TTL_SECONDS = 12 * 3600;

/** What the console's session routes answer: who, until when, and the CSRF token for state-changing calls. */
export interface ConsoleSessionView {
  account: { id: string; email: string } | { operator: true };
  expiresAt: string;
  csrfToken: string;
}

/** A live console session (account or operator) found by its token. */
export interface LiveSession {
  actor: Actor;
  expiresAt: Date;
}

/**
 * Console sessions in cookies (docs/auth.md): the account sessions of `POST /sessions` and the
 * operator's sessions opened with the admin token, both opaque 256-bit tokens stored as SHA-256,
 * and the CSRF token derived from each.
 */
@Injectable()
export class ConsoleSessions {
  private readonly logger = new Logger(ConsoleSessions.name);
  private readonly adminTokenHash: Buffer;
  private readonly adminTokenFingerprint: string;
  private readonly loginPerIp: { burst: number; perSecond: number };

  constructor(
    @InjectDataSource(AUTH_CONNECTION) private readonly dataSource: DataSource,
    private readonly accounts: AccountsService,
    private readonly limiter: RateLimiter,
    private readonly clock: Clock,
    private readonly csrf: CsrfTokens,
    @Inject(AUTH_OPTIONS) options: Pick<AuthModuleOptions, 'adminToken' | 'accountLimits'>,
  ) {
    this.adminTokenHash = sha256(options.adminToken);
    // Not the hash of the token (that would be a fast offline oracle for it in a database copy).
    this.adminTokenFingerprint = createHmac('sha256', options.adminToken).update('borealis operator session v1').digest('hex');
    this.loginPerIp = resolveAccountLimits(options.accountLimits).loginPerIp;
  }

  /** Whether `token` is the operator admin token (constant time whatever the lengths). */
  isAdminToken(token: string): boolean {
    return timingSafeEqual(sha256(token), this.adminTokenHash);
  }

  /** Opens an operator session for the admin token; limited per source address like logins. */
  async openOperatorSession(adminToken: string, sourceIp: string): Promise<{ token: string; expiresAt: Date }> {
    const decision = await this.limiter.take(`auth:login-ip:${sourceIp}`, this.loginPerIp.burst, this.loginPerIp.perSecond);
    if (!decision.allowed) throw new DomainError(ErrorCode.RateLimited, 'too many sign-in attempts; try again later', { retryAfterSeconds: decision.retryAfterSeconds });
    if (!this.isAdminToken(adminToken)) throw new DomainError(ErrorCode.Unauthenticated, 'wrong admin token');
    const token = randomToken(32, OPERATOR_SESSION_PREFIX);
    const now = new Date(this.clock.now());
    const expiresAt = new Date(now.getTime() + OPERATOR_SESSION_TTL_SECONDS * 1000);
    await this.dataSource.transaction(async (em) => {
      await em.insert(OperatorSessionEntity, { tokenHash: sessionTokenHash(token), adminTokenFingerprint: this.adminTokenFingerprint, createdAt: now, expiresAt });
      await em.query('DELETE FROM operator_sessions WHERE expires_at <= $1', [now]);
    });
    this.logger.log({ msg: 'operator console session started' });
    return { token, expiresAt };
  }

  /** The live session of an account or operator session token, or null. */
  async resolve(token: string): Promise<LiveSession | null> {
    if (token.startsWith(OPERATOR_SESSION_PREFIX)) {
      const rows: { expires_at: Date }[] = await this.dataSource.query(
        'SELECT expires_at FROM operator_sessions WHERE token_hash = $1 AND admin_token_fingerprint = $2 AND expires_at > $3',
        [sessionTokenHash(token), this.adminTokenFingerprint, new Date(this.clock.now())],
      );
      return rows[0] ? { actor: { kind: 'operator' }, expiresAt: new Date(rows[0].expires_at) } : null;
    }
    const session = await this.accounts.resolveSession(token);
    return session && { actor: { kind: 'account', accountId: session.accountId, email: session.email }, expiresAt: session.expiresAt };
  }

  /** Ends an account or operator session (nothing when there is none). */
  async end(token: string): Promise<void> {
    if (token.startsWith(OPERATOR_SESSION_PREFIX)) await this.dataSource.getRepository(OperatorSessionEntity).delete({ tokenHash: sessionTokenHash(token) });
    else await this.accounts.logout(token);
  }

  view(token: string, session: LiveSession): ConsoleSessionView {
    const account = session.actor.kind === 'operator' ? { operator: true as const } : { id: session.actor.accountId, email: session.actor.email };
    return { account, expiresAt: session.expiresAt.toISOString(), csrfToken: this.csrf.tokenFor(token) };
  }

  csrfMatches(token: string, candidate: string | undefined): boolean {
    return this.csrf.matches(token, candidate);
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
