import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { DomainError, ErrorCode } from '@borealis/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AccessTokenVerifier } from './access-token-verifier';

/** The OAuth scope a route requires, e.g. `@RequiredScope('message:update')`. */
export const RequiredScope = Reflector.createDecorator<string>();

const REALM = 'Bearer realm="borealis"';

/**
 * Authorizes a request to `/projects/:projectId/...`: a valid access token (401 otherwise, with an
 * RFC 6750 challenge), the route's scope, and the token's project equal to the path's (403).
 */
@Injectable()
export class AccessGuard implements CanActivate {
  constructor(
    private readonly verifier: AccessTokenVerifier,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest<{ Params: { projectId?: string } }>>();
    const reply = http.getResponse<FastifyReply>();
    const authorization = request.headers.authorization;
    const principal = await this.verifier.verify(authorization).catch((err: unknown) => {
      if (err instanceof DomainError && err.code === ErrorCode.Unauthenticated) {
        reply.header('WWW-Authenticate', authorization ? `${REALM}, error="invalid_token"` : REALM);
      }
      throw err;
    });

    const scope = this.reflector.get(RequiredScope, context.getHandler());
    if (!scope) throw new Error(`${context.getClass().name}.${context.getHandler().name} uses AccessGuard without @RequiredScope`);
    if (!principal.scopes.has(scope)) {
      reply.header('WWW-Authenticate', `${REALM}, error="insufficient_scope", scope="${scope}"`);
      throw new DomainError(ErrorCode.PermissionDenied, `the access token lacks the scope ${scope}`);
    }
    if (principal.projectId !== request.params.projectId) {
      throw new DomainError(ErrorCode.PermissionDenied, 'the access token belongs to another project');
    }
    return true;
  }
}
