import { SetMetadata } from '@nestjs/common';
import type { Role } from '../persistence/entities';

/** Who makes a management request: the operator (admin token, super-admin) or a developer account. */
export type Actor = { kind: 'operator' } | { kind: 'account'; accountId: string; email: string };

/** What the audit log records as "who". */
export function actorName(actor: Actor): string {
  return actor.kind === 'operator' ? 'operator' : actor.accountId;
}

export const ROLES: readonly Role[] = ['owner', 'admin', 'developer', 'viewer'];
const RANK: Record<Role, number> = { viewer: 0, developer: 1, admin: 2, owner: 3 };

export function hasRole(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}

/**
 * Every management route declares who may call it; the access guard refuses routes that do not
 * (and a test fails on them). `role` routes name the organization through a `tenantId` or
 * `projectId` route parameter; the caller needs at least that role in it (the operator passes).
 */
export type AccessRule = { kind: 'public' } | { kind: 'authenticated' } | { kind: 'operator' } | { kind: 'role'; role: Role };

export const ACCESS_RULE = 'borealis:auth:access';

/** No credentials needed (sign-up, login). */
export const Public = () => SetMetadata(ACCESS_RULE, { kind: 'public' } satisfies AccessRule);
/** Any signed-in account, or the operator. */
export const Authenticated = () => SetMetadata(ACCESS_RULE, { kind: 'authenticated' } satisfies AccessRule);
/** The operator admin token only. */
export const OperatorOnly = () => SetMetadata(ACCESS_RULE, { kind: 'operator' } satisfies AccessRule);
/** At least `role` in the organization the route names. */
export const RequireRole = (role: Role) => SetMetadata(ACCESS_RULE, { kind: 'role', role } satisfies AccessRule);

/** What the guard established about a request, for the handler. */
export interface AccessContext {
  actor: Actor | null;
  /** The console session token that authenticated the request, and how it came (none for the admin token). */
  session?: { token: string; via: 'cookie' | 'bearer' };
}

export const ACCESS_CONTEXT = Symbol('borealis.auth.access');
