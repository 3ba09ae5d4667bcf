import { Body, Controller, Delete, Get, HttpCode, Post, Req, UseGuards } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { Authenticated, Public, type AccessContext, type Actor } from '../access/access';
import { Access, AccessGuard, Caller } from '../access/access.guard';
import { ConsoleSessions } from '../console/console-sessions.service';
import { AccountsService, type AccountView, type MeView, type SessionIssued } from '../accounts/accounts.service';
import { AcceptInvitationRequest, LoginRequest, SignUpRequest, parseBody } from './admin-requests';
import { Operation } from './operation';
import { OrganizationAdmin } from './organization-admin.service';
import type { MemberView } from './views';

/** Developer accounts: sign-up, console sessions, who am I, accepting invitations. */
@Controller('auth/admin/v1')
@UseGuards(AccessGuard)
export class AccountsController {
  constructor(
    private readonly accounts: AccountsService,
    private readonly organizations: OrganizationAdmin,
    private readonly sessions: ConsoleSessions,
  ) {}

  @Post('accounts')
  @Public()
  @Operation('Sign up: create a developer account (with `invitation`, also join the organization that token invites to)', { body: SignUpRequest })
  async signUp(@Body() body: unknown, @Req() request: FastifyRequest): Promise<AccountView> {
    const { email, password, invitation } = parseBody(SignUpRequest, body);
    const account = await this.accounts.signUp(email, password, request.ip, invitation);
    if (invitation) await this.organizations.accept({ kind: 'account', accountId: account.id, email: account.email }, invitation);
    return account;
  }

  @Post('sessions')
  @Public()
  @Operation('Log in: returns a console session token (Bearer) and its expiry', { body: LoginRequest })
  login(@Body() body: unknown, @Req() request: FastifyRequest): Promise<SessionIssued> {
    const { email, password } = parseBody(LoginRequest, body);
    return this.accounts.login(email, password, request.ip);
  }

  @Delete('sessions/current')
  @Authenticated()
  @HttpCode(204)
  @Operation('Log out: ends the session whose token authenticates this request')
  async logout(@Access() access: AccessContext): Promise<void> {
    if (access.session) await this.sessions.end(access.session.token);
  }

  @Get('me')
  @Authenticated()
  @Operation('The signed-in account and its memberships')
  me(@Caller() actor: Actor): Promise<MeView | { operator: true }> {
    return actor.kind === 'operator' ? Promise.resolve({ operator: true }) : this.accounts.me(actor.accountId);
  }

  @Post('invitations/accept')
  @Authenticated()
  @Operation('Accept an invitation (signed in as the invited e-mail address)', { body: AcceptInvitationRequest })
  accept(@Caller() actor: Actor, @Body() body: unknown): Promise<MemberView & { tenantId: string }> {
    return this.organizations.accept(actor, parseBody(AcceptInvitationRequest, body).token);
  }
}
