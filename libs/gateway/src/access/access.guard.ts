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
 * Authorizes a request to `/projects/:projectId/...` for a scope, cheapest check first: the client
 * IP's rate limit (429), a valid access token (401 otherwise, with an RFC 6750 challenge) whose key
 * auth has not revoked, the scope and the token's project equal to the path's (403), and, for
 * writes, an active project (403). Used by the guard of the controller's routes and by the send
 * route, which is a plain Fastify route.
 */
@Injectable()
export class RequestAuthorizer {
  constructor(
    private readonly verifier: AccessTokenVerifier,
    private readonly registry: ProjectRegistryView,
    private readonly limits: RequestLimits,
  ) {}

  /**
   * `consoleSend`: the route also takes auth's console send token in place of a `message:update`
   * access token (the single-message send route, and no other).
   */
  async authorize(request: FastifyRequest, reply: FastifyReply, scope: string, { consoleSend = false }: { consoleSend?: boolean } = {}): Promise<void> {
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
    if (principal.kind === 'console-send') {
      // Good for one thing: a send on the route that says so. Anywhere else it is no token at all.
      if (!consoleSend || scope !== WRITE_SCOPE) throw challenge(new DomainError(ErrorCode.Unauthenticated, 'the access token is not valid'));
    } else {
      try {
        this.registry.assertKeyValid(principal);
      } catch (err) {
        throw challenge(err);
      }
    }

    if (principal.kind === 'client' && !principal.scopes.has(scope)) {
      reply.header('WWW-Authenticate', `${REALM}, error="insufficient_scope", scope="${scope}"`);
      throw new DomainError(ErrorCode.PermissionDenied, `the access token lacks the scope ${scope}`);
    }
    if (principal.projectId !== (request.params as { projectId?: string }).projectId) {
      throw new DomainError(ErrorCode.PermissionDenied, 'the access token belongs to another project');
    }
    if (scope === WRITE_SCOPE) this.registry.assertActive(principal.projectId);
  }

  /**
   * Whether `authorize` would pass everything but the IP's rate limit, known without waiting: the
   * token was verified before (and has not expired), its key is valid, its scope and project fit
   * and the project is active. No side effects. The send route then takes the IP's and the
   * project's limits in one round trip; when this is false, `authorize` answers as usual.
   */
  passesWithoutIpLimit(request: FastifyRequest, scope: string): boolean {
    const principal = this.verifier.remembered(request.headers.authorization);
    // A console send token always goes the usual way (`authorize` with `consoleSend`).
    if (!principal || principal.kind !== 'client' || !principal.scopes.has(scope) || principal.projectId !== (request.params as { projectId?: string }).projectId) return false;
    try {
      this.registry.assertKeyValid(principal);
      if (scope === WRITE_SCOPE) this.registry.assertActive(principal.projectId);
      return true;
    } catch {
      return false;
    }
  }
}

/** The controller's routes: `RequestAuthorizer` for the route's `@RequiredScope`. */
@Injectable()
export class AccessGuard implements CanActivate {
  constructor(
    private readonly authorizer: RequestAuthorizer,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const scope = this.reflector.get(RequiredScope, context.getHandler());
    if (!scope) throw new Error(`${context.getClass().name}.${context.getHandler().name} uses AccessGuard without @RequiredScope`);
    const http = context.switchToHttp();
    await this.authorizer.authorize(http.getRequest<FastifyRequest>(), http.getResponse<FastifyReply>(), scope);
    return true;
  }
}
