import { Inject, Injectable, createParamDecorator, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { DataSource } from 'typeorm';
import { DomainError, ErrorCode } from '@borealis/contracts';
import { AUTH_OPTIONS, type AuthModuleOptions } from '../auth-options';
import { AccountsService } from '../accounts/accounts.service';
import { AUTH_CONNECTION } from '../persistence/database';
import type { Role } from '../persistence/entities';
import { ACCESS_CONTEXT, ACCESS_RULE, hasRole, type AccessContext, type AccessRule, type Actor } from './access';

type AccessRequest = { headers: IncomingHttpHeaders; params?: Record<string, string>; [ACCESS_CONTEXT]?: AccessContext };

/**
 * Authenticates management requests (operator admin token or a console session token) and enforces
 * each route's access rule. Deny by default: a route without a rule is refused.
 *
 * A caller who is not a member of the organization a route names gets `not_found`, as if it did not
 * exist, so that ids of other tenants cannot be probed; a member whose role is too low gets
 * `permission_denied`.
 */
@Injectable()
export class AccessGuard implements CanActivate {
  private readonly operatorToken: Buffer;

  constructor(
    private readonly reflector: Reflector,
    private readonly accounts: AccountsService,
    @InjectDataSource(AUTH_CONNECTION) private readonly dataSource: DataSource,
    @Inject(AUTH_OPTIONS) options: Pick<AuthModuleOptions, 'adminToken'>,
  ) {
    this.operatorToken = sha256(options.adminToken);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const rule = this.reflector.get<AccessRule | undefined>(ACCESS_RULE, context.getHandler());
    const request = context.switchToHttp().getRequest<AccessRequest>();
    if (!rule) throw new DomainError(ErrorCode.PermissionDenied, 'this route declares no access rule');
    if (rule.kind === 'public') {
      request[ACCESS_CONTEXT] = { actor: null };
      return true;
    }
    const actor = await this.authenticate(request.headers.authorization);
    request[ACCESS_CONTEXT] = { actor };
    if (rule.kind === 'authenticated' || actor.kind === 'operator') return true;
    if (rule.kind === 'operator') throw new DomainError(ErrorCode.PermissionDenied, 'this route is for the operator admin token only');
    await this.requireRole(actor.accountId, request.params ?? {}, rule.role);
    return true;
  }

  private async authenticate(authorization: string | undefined): Promise<Actor> {
    const token = /^Bearer +(\S+) *$/i.exec(authorization ?? '')?.[1];
    if (token !== undefined) {
      // Hashed first, so that the comparison is constant-time whatever the lengths.
      if (timingSafeEqual(sha256(token), this.operatorToken)) return { kind: 'operator' };
      const account = await this.accounts.resolveSession(token);
      if (account) return { kind: 'account', accountId: account.id, email: account.email };
    }
    throw new DomainError(ErrorCode.Unauthenticated, 'the management API needs Authorization: Bearer <console session token or operator admin token>');
  }

  private async requireRole(accountId: string, params: Record<string, string>, needed: Role): Promise<void> {
    let rows: { role: Role }[];
    let what: string;
    if (params['tenantId'] !== undefined) {
      what = 'tenant';
      rows = await this.dataSource.query('SELECT role FROM memberships WHERE tenant_id = $1 AND account_id = $2', [params['tenantId'], accountId]);
    } else if (params['projectId'] !== undefined) {
      what = 'project';
      rows = await this.dataSource.query(
        'SELECT m.role FROM projects p JOIN memberships m ON m.tenant_id = p.tenant_id WHERE p.id = $1 AND m.account_id = $2',
        [params['projectId'], accountId],
      );
    } else {
      throw new DomainError(ErrorCode.Internal, 'a role-checked route must name a tenantId or projectId');
    }
    const role = rows[0]?.role;
    if (!role) throw new DomainError(ErrorCode.NotFound, `no such ${what}`);
    if (!hasRole(role, needed)) throw new DomainError(ErrorCode.PermissionDenied, `this needs the ${needed} role in the organization; you are ${role}`);
  }
}

/** The caller on a route that requires authentication. */
export const Caller = createParamDecorator((_data: unknown, context: ExecutionContext): Actor => {
  const actor = context.switchToHttp().getRequest<AccessRequest>()[ACCESS_CONTEXT]?.actor;
  if (!actor) throw new DomainError(ErrorCode.Unauthenticated, 'authentication required');
  return actor;
});

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
