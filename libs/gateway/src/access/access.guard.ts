import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { DomainError, ErrorCode } from '@borealis/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { setRateLimitHeaders } from '../rate-limit/rate-limit-headers';
import { RequestLimits } from '../rate-limit/request-limits';
import { ProjectRegistryView } from '../registry/project-registry.view';
import { AccessTokenVerifier } from './access-token-verifier';

/** The OAuth scope a route requires, e.g. `@RequiredScope('message:update')`. */
export const RequiredScope = Reflector.createDecorator<string>();

const REALM = 'Bearer realm="borealis"';
/** Scopes that change state: refused for a deactivated project. */
const WRITE_SCOPE = 'message:update';

/**
 * Authorizes a request to `/projects/:projectId/...`, cheapest check first: the client IP's rate
 * limit (429), a valid access token (401 otherwise, with an RFC 6750 challenge) whose key auth has
 * not revoked, the route's scope and the token's project equal to the path's (403), and, for
 * writes, an active project (403).
 */
@Injectable()
export class AccessGuard implements CanActivate {
  constructor(
    private readonly verifier: AccessTokenVerifier,
    private readonly registry: ProjectRegistryView,
    private readonly limits: RequestLimits,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest<{ Params: { projectId?: string } }>>();
    const reply = http.getResponse<FastifyReply>();
    await this.limits.takeIp(request.ip, (outcome) => {
      if (!outcome.decision.allowed) setRateLimitHeaders(reply, outcome);
    });

    const authorization = request.headers.authorization;
    const challenge = (err: unknown) => {
      if (err instanceof DomainError && err.code === ErrorCode.Unauthenticated) {
        reply.header('WWW-Authenticate', authorization ? `${REALM}, error="invalid_token"` : REALM);
      }
      return err;
    };
    const principal = await this.verifier.verify(authorization).catch((err: unknown) => {
      throw challenge(err);
    });
    try {
      this.registry.assertKeyValid(principal);
    } catch (err) {
      throw challenge(err);
    }

    const scope = this.reflector.get(RequiredScope, context.getHandler());
    if (!scope) throw new Error(`${context.getClass().name}.${context.getHandler().name} uses AccessGuard without @RequiredScope`);
    if (!principal.scopes.has(scope)) {
      reply.header('WWW-Authenticate', `${REALM}, error="insufficient_scope", scope="${scope}"`);
      throw new DomainError(ErrorCode.PermissionDenied, `the access token lacks the scope ${scope}`);
    }
    if (principal.projectId !== request.params.projectId) {
      throw new DomainError(ErrorCode.PermissionDenied, 'the access token belongs to another project');
    }
    if (scope === WRITE_SCOPE) this.registry.assertActive(principal.projectId);
    return true;
  }
}
