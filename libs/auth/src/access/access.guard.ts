import { Injectable, createParamDecorator, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { InjectDataSource } from '@nestjs/typeorm';
import type { IncomingHttpHeaders } from 'node:http';
import type { DataSource } from 'typeorm';
import { DomainError, ErrorCode } from '@borealis/contracts';
import { SESSION_COOKIE, readCookie } from '../console/console-cookie';
import { ConsoleSessions } from '../console/console-sessions.service';
import { CSRF_HEADER, SAFE_METHODS } from '../console/csrf';
import { AUTH_CONNECTION } from '../persistence/database';
import type { Role } from '../persistence/entities';
import { ACCESS_CONTEXT, ACCESS_RULE, hasRole, type AccessContext, type AccessRule, type Actor } from './access';

type AccessRequest = { method: string; headers: IncomingHttpHeaders; params?: Record<string, string>; [ACCESS_CONTEXT]?: AccessContext };

/**
 * Authenticates management requests (operator admin token or a console session token, as a Bearer
 * token or in the console's session cookie) and enforces each route's access rule. Deny by default:
 * a route without a rule is refused. An `Authorization` header, when present, wins over the cookie.
 * A cookie-authenticated request that may change state (not GET, HEAD or OPTIONS) must carry the
 * session's CSRF token in `X-CSRF-Token`: a page on another origin can make the browser send the
 * cookie, never read the token.
 *
 * A caller who is not a member of the organization a route names gets `not_found`, as if it did not
 * exist, so that ids of other tenants cannot be probed; a member whose role is too low gets
 * `permission_denied`.
 */
@Injectable()
export class AccessGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly sessions: ConsoleSessions,
    @InjectDataSource(AUTH_CONNECTION) private readonly dataSource: DataSource,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const rule = this.reflector.get<AccessRule | undefined>(ACCESS_RULE, context.getHandler());
    const request = context.switchToHttp().getRequest<AccessRequest>();
    if (!rule) throw new DomainError(ErrorCode.PermissionDenied, 'this route declares no access rule');
    if (rule.kind === 'public') {
      request[ACCESS_CONTEXT] = { actor: null };
      return true;
    }
    const established = await this.authenticate(request);
    request[ACCESS_CONTEXT] = established;
    const actor = established.actor;
    if (rule.kind === 'authenticated' || actor.kind === 'operator') return true;
    if (rule.kind === 'operator') throw new DomainError(ErrorCode.PermissionDenied, 'this route is for the operator admin token only');
    await this.requireRole(actor.accountId, request.params ?? {}, rule.role);
    return true;
  }

  private async authenticate(request: AccessRequest): Promise<AccessContext & { actor: Actor }> {
    const authorization = request.headers.authorization;
    if (authorization !== undefined) {
      const token = /^Bearer +(\S+) *$/i.exec(authorization)?.[1];
      if (token !== undefined) {
        if (this.sessions.isAdminToken(token)) return { actor: { kind: 'operator' } };
        const session = await this.sessions.resolve(token);
        if (session) return { actor: session.actor, session: { token, via: 'bearer' } };
      }
      throw new DomainError(ErrorCode.Unauthenticated, 'the management API needs Authorization: Bearer <console session token or operator admin token>');
    }
    const cookie = readCookie(typeof request.headers.cookie === 'string' ? request.headers.cookie : undefined, SESSION_COOKIE);
    const session = cookie ? await this.sessions.resolve(cookie) : null;
    if (!cookie || !session) {
      throw new DomainError(ErrorCode.Unauthenticated, cookie ? 'the console session has expired or ended; sign in again' : 'the management API needs a console session (cookie or Authorization: Bearer) or the operator admin token');
    }
    if (!SAFE_METHODS.has(request.method.toUpperCase())) {
      const given = request.headers[CSRF_HEADER];
      if (!this.sessions.csrfMatches(cookie, typeof given === 'string' ? given : undefined)) throw new DomainError(ErrorCode.PermissionDenied, 'missing or invalid CSRF token');
    }
    return { actor: session.actor, session: { token: cookie, via: 'cookie' } };
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

/** What the guard established about the request (the console's session routes read the session). */
export const Access = createParamDecorator((_data: unknown, context: ExecutionContext): AccessContext => {
  return context.switchToHttp().getRequest<AccessRequest>()[ACCESS_CONTEXT] ?? { actor: null };
});
