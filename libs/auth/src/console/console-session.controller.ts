import { Body, Controller, Delete, Get, HttpCode, Inject, Post, Req, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, ErrorCode } from '@borealis/contracts';
import { Clock } from '@borealis/util';
import { Authenticated, Public, type AccessContext } from '../access/access';
import { Access, AccessGuard } from '../access/access.guard';
import { AccountsService } from '../accounts/accounts.service';
import { LoginRequest, OperatorSessionRequest, parseBody } from '../admin/admin-requests';
import { Operation } from '../admin/operation';
import { AUTH_OPTIONS, type AuthModuleOptions } from '../auth-options';
import { clearedSessionCookie, sessionCookie } from './console-cookie';
import { ConsoleSessions, type ConsoleSessionView } from './console-sessions.service';

/**
 * The console's sessions in an HttpOnly cookie (docs/auth.md, "Console sessions"): the browser
 * sends the token, script never sees it; every answer carries the CSRF token that state-changing
 * requests must echo in `X-CSRF-Token`.
 */
@Controller('auth/admin/v1/console')
@UseGuards(AccessGuard)
export class ConsoleSessionController {
  private readonly publicUrlIsHttps: boolean;

  constructor(
    private readonly accounts: AccountsService,
    private readonly sessions: ConsoleSessions,
    private readonly clock: Clock,
    @Inject(AUTH_OPTIONS) options: Pick<AuthModuleOptions, 'issuer'>,
  ) {
    this.publicUrlIsHttps = new URL(options.issuer).protocol === 'https:';
  }

  @Post('session')
  @Public()
  @HttpCode(200)
  @Operation('Sign in to the console: the same login as POST /sessions, the session token in an HttpOnly cookie', { body: LoginRequest })
  async signIn(@Body() body: unknown, @Req() request: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply): Promise<ConsoleSessionView> {
    const { email, password } = parseBody(LoginRequest, body);
    const issued = await this.accounts.login(email, password, request.ip);
    const expiresAt = new Date(issued.expiresAt);
    this.setCookie(request, reply, issued.token, expiresAt);
    return this.sessions.view(issued.token, { actor: { kind: 'account', accountId: issued.account.id, email: issued.account.email }, expiresAt });
  }

  @Post('operator-session')
  @Public()
  @HttpCode(200)
  @Operation('Sign in to the console as the operator with the admin token (a 12-hour session in an HttpOnly cookie)', { body: OperatorSessionRequest })
  async operatorSignIn(@Body() body: unknown, @Req() request: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply): Promise<ConsoleSessionView> {
    const { token, expiresAt } = await this.sessions.openOperatorSession(parseBody(OperatorSessionRequest, body).token, request.ip);
    this.setCookie(request, reply, token, expiresAt);
    return this.sessions.view(token, { actor: { kind: 'operator' }, expiresAt });
  }

  @Get('session')
  @Authenticated()
  @Operation('The console session of the cookie, with its CSRF token (after a reload)')
  async current(@Access() access: AccessContext, @Res({ passthrough: true }) reply: FastifyReply): Promise<ConsoleSessionView> {
    noStore(reply);
    if (access.session?.via !== 'cookie') throw new DomainError(ErrorCode.Unauthenticated, 'no console session cookie');
    const session = await this.sessions.resolve(access.session.token);
    if (!session) throw new DomainError(ErrorCode.Unauthenticated, 'the console session has expired or ended; sign in again');
    return this.sessions.view(access.session.token, session);
  }

  @Delete('session')
  @Authenticated()
  @HttpCode(204)
  @Operation('Sign out: ends the session and clears the cookie')
  async signOut(@Access() access: AccessContext, @Req() request: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply): Promise<void> {
    if (access.session) await this.sessions.end(access.session.token);
    void reply.header('set-cookie', clearedSessionCookie(this.secure(request)));
  }

  private setCookie(request: FastifyRequest, reply: FastifyReply, token: string, expiresAt: Date): void {
    noStore(reply);
    void reply.header('set-cookie', sessionCookie(token, (expiresAt.getTime() - this.clock.now()) / 1000, this.secure(request)));
  }

  /** Secure over HTTPS: this request's protocol (X-Forwarded-Proto as TRUST_PROXY allows) or an https public URL. */
  private secure(request: FastifyRequest): boolean {
    return this.publicUrlIsHttps || request.protocol === 'https';
  }
}

/** Session answers carry the CSRF token: no cache may keep them. */
function noStore(reply: FastifyReply): void {
  void reply.header('cache-control', 'no-store');
}
