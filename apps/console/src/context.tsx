import { createContext, use } from 'react';
import type { ApiClient } from './lib/api';
import type { Route } from './lib/routes';

export type Role = 'owner' | 'admin' | 'developer' | 'viewer';
export const ROLES: readonly Role[] = ['owner', 'admin', 'developer', 'viewer'];
const RANK: Record<Role, number> = { viewer: 0, developer: 1, admin: 2, owner: 3 };

export interface SessionBody {
  account: { id?: string; email?: string; operator?: boolean };
  expiresAt: string;
  csrfToken: string;
}

export interface Me {
  id: string;
  email: string;
  memberships: { tenantId: string; role: string }[];
}

export interface Console {
  api: ApiClient;
  route: Route;
  navigate: (route: Route, replace?: boolean) => void;
  session: SessionBody;
  me: Me | null;
  isOperator: boolean;
  refreshMe: () => Promise<void>;
  signOut: () => Promise<void>;
}

export const ConsoleContext = createContext<Console | null>(null);

export function useConsole(): Console {
  const value = use(ConsoleContext);
  if (!value) throw new Error('useConsole outside the signed-in console');
  return value;
}

/** The caller's role in an organization (the operator may do everything). */
export function roleIn(c: Pick<Console, 'me' | 'isOperator'>, tenantId: string): Role | null {
  if (c.isOperator) return 'owner';
  const role = c.me?.memberships.find((m) => m.tenantId === tenantId)?.role;
  return role && (ROLES as readonly string[]).includes(role) ? (role as Role) : null;
}

export function atLeast(role: Role | null, needed: Role): boolean {
  return role !== null && RANK[role] >= RANK[needed];
}
