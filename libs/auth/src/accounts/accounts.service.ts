import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash } from 'node:crypto';
import { QueryFailedError, type DataSource } from 'typeorm';
import { DomainError, ErrorCode } from '@borealis/contracts';
import { RateLimiter } from '@borealis/keyvalue';
import { Clock, randomToken, uuidv7 } from '@borealis/util';
import { AUTH_OPTIONS, DEFAULT_SESSION_TTL_SECONDS, resolveAccountLimits, type AccountLimitOptions, type AuthModuleOptions, type SignUpMode } from '../auth-options';
import { AUTH_CONNECTION } from '../persistence/database';
import { AccountEntity, ConsoleSessionEntity, InvitationEntity, MembershipEntity } from '../persistence/entities';
import { PasswordHasher } from './password-hasher';
import { DUMMY_PASSWORD_HASH } from './passwords';

/** Console session tokens carry this prefix, so that secret scanners and the guard recognise them. */
export const SESSION_TOKEN_PREFIX = 'bcs_';

export interface AccountView {
  id: string;
  email: string;
  createdAt: string;
}

export interface SessionIssued {
  token: string;
  tokenType: 'Bearer';
  expiresAt: string;
  account: AccountView;
}

export interface MeView extends AccountView {
  memberships: { tenantId: string; role: string }[];
}

export function sessionTokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * Developer accounts and their console sessions: opaque random bearer tokens (256 bits), stored as
 * their SHA-256 only, with an expiry. Passwords are stored as scrypt hashes (see passwords.ts).
 */
@Injectable()
export class AccountsService {
  private readonly logger = new Logger(AccountsService.name);
  private readonly sessionTtlMs: number;
  private readonly limits: AccountLimitOptions;
  private readonly signUpMode: SignUpMode;

  constructor(
    @InjectDataSource(AUTH_CONNECTION) private readonly dataSource: DataSource,
    private readonly limiter: RateLimiter,
    private readonly passwords: PasswordHasher,
    private readonly clock: Clock,
    @Inject(AUTH_OPTIONS) options: Pick<AuthModuleOptions, 'sessionTtlSeconds' | 'accountLimits' | 'signUp'>,
  ) {
    this.signUpMode = options.signUp ?? 'open';
    this.sessionTtlMs = (options.sessionTtlSeconds ?? DEFAULT_SESSION_TTL_SECONDS) * 1000;
    this.limits = resolveAccountLimits(options.accountLimits);
  }

  /**
   * A new account. With sign-up by invitation, `invitation` must be the token of a pending
   * invitation for this e-mail address (the caller accepts it once the account exists).
   */
  async signUp(email: string, password: string, sourceIp: string, invitation?: string): Promise<AccountView> {
    if (this.signUpMode === 'closed') throw new DomainError(ErrorCode.PermissionDenied, 'sign-up is closed on this server; ask its operator for an account');
    // An invitation given where none is needed is checked all the same: it is accepted afterwards.
    if (this.signUpMode === 'invitation' || invitation !== undefined) await this.requireInvitation(normalizeEmail(email), invitation);
    const { signUpPerIp } = this.limits;
    const decision = await this.limiter.take(`auth:signup:${sourceIp}`, signUpPerIp.burst, signUpPerIp.perSecond);
    if (!decision.allowed) {
      throw new DomainError(ErrorCode.RateLimited, 'too many sign-ups from this address; try again later', { retryAfterSeconds: decision.retryAfterSeconds });
    }
    const account: AccountEntity = { id: uuidv7(), email: normalizeEmail(email), passwordHash: await this.passwords.hash(password), createdAt: this.now() };
    try {
      await this.dataSource.getRepository(AccountEntity).insert(account);
    } catch (err) {
      if (err instanceof QueryFailedError && (err.driverError as { code?: string }).code === '23505') {
        throw new DomainError(ErrorCode.Conflict, 'an account with this e-mail address exists already', { fields: { email: 'taken' } });
      }
      throw err;
    }
    this.logger.log({ msg: 'account created', accountId: account.id });
    return accountView(account);
  }

  /** One answer whatever is wrong with it: a made-up token tells nothing about the invitations that exist. */
  private async requireInvitation(email: string, token: string | undefined): Promise<void> {
    const invitation = token ? await this.dataSource.getRepository(InvitationEntity).findOneBy({ tokenHash: sessionTokenHash(token) }) : null;
    const pending = invitation !== null && invitation.acceptedAt === null && invitation.revokedAt === null && invitation.expiresAt.getTime() > this.clock.now();
    if (!pending || invitation.email !== email) {
      throw new DomainError(ErrorCode.PermissionDenied, 'sign-up is by invitation on this server: give the token of a pending invitation for this e-mail address');
    }
  }

  /** One answer for an unknown address and a wrong password, in about the same time. */
  async login(email: string, password: string, sourceIp: string): Promise<SessionIssued> {
    const address = normalizeEmail(email);
    const { loginPerIp, loginPerIpAndEmail } = this.limits;
    // Per address first, whatever the e-mail; then per address and e-mail. One round trip to Redis.
    const decisions = await this.limiter.takeChain([
      { key: `auth:login-ip:${sourceIp}`, capacity: loginPerIp.burst, refillPerSecond: loginPerIp.perSecond },
      { key: `auth:login:${sourceIp}:${address}`, capacity: loginPerIpAndEmail.burst, refillPerSecond: loginPerIpAndEmail.perSecond },
    ]);
    const refused = decisions.find((d) => !d.allowed);
    if (refused) {
      throw new DomainError(ErrorCode.RateLimited, 'too many login attempts; try again later', { retryAfterSeconds: refused.retryAfterSeconds });
    }
    const account = await this.dataSource.getRepository(AccountEntity).findOneBy({ email: address });
    const ok = await this.passwords.verify(password, account?.passwordHash ?? DUMMY_PASSWORD_HASH);
    if (!account || !ok) throw new DomainError(ErrorCode.Unauthenticated, 'wrong e-mail address or password');
    const token = randomToken(32, SESSION_TOKEN_PREFIX);
    const now = this.now();
    const session: ConsoleSessionEntity = { tokenHash: sessionTokenHash(token), accountId: account.id, createdAt: now, expiresAt: new Date(now.getTime() + this.sessionTtlMs) };
    await this.dataSource.transaction(async (em) => {
      await em.insert(ConsoleSessionEntity, session);
      // Expired sessions of this account are of no use to anyone.
      await em.query('DELETE FROM console_sessions WHERE account_id = $1 AND expires_at <= $2', [account.id, now]);
    });
    this.logger.log({ msg: 'console session started', accountId: account.id });
    return { token, tokenType: 'Bearer', expiresAt: session.expiresAt.toISOString(), account: accountView(account) };
  }

  async logout(token: string): Promise<void> {
    await this.dataSource.getRepository(ConsoleSessionEntity).delete({ tokenHash: sessionTokenHash(token) });
  }

  /** The account of a live session token and when the session ends, or null. */
  async resolveSession(token: string): Promise<{ accountId: string; email: string; expiresAt: Date } | null> {
    if (!token.startsWith(SESSION_TOKEN_PREFIX)) return null;
    const rows: { id: string; email: string; expires_at: Date }[] = await this.dataSource.query(
      'SELECT a.id, a.email, s.expires_at FROM console_sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = $1 AND s.expires_at > $2',
      [sessionTokenHash(token), this.now()],
    );
    const row = rows[0];
    return row ? { accountId: row.id, email: row.email, expiresAt: new Date(row.expires_at) } : null;
  }

  async me(accountId: string): Promise<MeView> {
    const account = await this.dataSource.getRepository(AccountEntity).findOneByOrFail({ id: accountId });
    const memberships = await this.dataSource.getRepository(MembershipEntity).find({ where: { accountId }, order: { createdAt: 'ASC' } });
    return { ...accountView(account), memberships: memberships.map((m) => ({ tenantId: m.tenantId, role: m.role })) };
  }

  private now(): Date {
    return new Date(this.clock.now());
  }
}

export function accountView(a: AccountEntity): AccountView {
  return { id: a.id, email: a.email, createdAt: a.createdAt.toISOString() };
}
