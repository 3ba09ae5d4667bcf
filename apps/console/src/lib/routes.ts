/** The console's client-side routes: parsed from and rendered to URLs (the server answers index.html for each). */

export type ProjectTab = 'overview' | 'keys' | 'applications' | 'stats' | 'messages' | 'send';
export type OrganizationTab = 'projects' | 'members' | 'invitations' | 'audit';

export const PROJECT_TABS: readonly ProjectTab[] = ['overview', 'keys', 'applications', 'stats', 'messages', 'send'];
export const ORGANIZATION_TABS: readonly OrganizationTab[] = ['projects', 'members', 'invitations', 'audit'];

export type Route =
  | { name: 'home' }
  | { name: 'signin' }
  | { name: 'signup' }
  | { name: 'organization'; tenantId: string; tab: OrganizationTab }
  | { name: 'project'; projectId: string; tab: ProjectTab }
  | { name: 'message'; projectId: string; messageId: string }
  | { name: 'accept-invitation'; token: string }
  | { name: 'operator' }
  | { name: 'not-found'; path: string };

const seg = (s: string | undefined): string | null => {
  if (!s) return null;
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
};

function pick<T extends string>(value: string | null, allowed: readonly T[], fallback: T): T {
  return value !== null && (allowed as readonly string[]).includes(value) ? (value as T) : fallback;
}

export function parseRoute(pathname: string, search: string): Route {
  const params = new URLSearchParams(search);
  const parts = pathname.split('/').filter((p) => p.length > 0);
  const [a, b, c, d] = parts;
  if (parts.length === 0) return { name: 'home' };
  if (parts.length === 1 && a === 'signin') return { name: 'signin' };
  if (parts.length === 1 && a === 'signup') return { name: 'signup' };
  if (parts.length === 1 && a === 'operator') return { name: 'operator' };
  if (parts.length === 2 && a === 'invitations' && b === 'accept') return { name: 'accept-invitation', token: params.get('token') ?? '' };
  if (parts.length === 2 && a === 'organizations') {
    const tenantId = seg(b);
    if (tenantId) return { name: 'organization', tenantId, tab: pick(params.get('tab'), ORGANIZATION_TABS, 'projects') };
  }
  if (parts.length === 2 && a === 'projects') {
    const projectId = seg(b);
    if (projectId) return { name: 'project', projectId, tab: pick(params.get('tab'), PROJECT_TABS, 'overview') };
  }
  if (parts.length === 4 && a === 'projects' && c === 'messages') {
    const projectId = seg(b);
    const messageId = seg(d);
    if (projectId && messageId) return { name: 'message', projectId, messageId };
  }
  return { name: 'not-found', path: pathname };
}

export function hrefOf(route: Route): string {
  const e = encodeURIComponent;
  switch (route.name) {
    case 'home':
      return '/';
    case 'signin':
      return '/signin';
    case 'signup':
      return '/signup';
    case 'operator':
      return '/operator';
    case 'accept-invitation':
      return `/invitations/accept?token=${e(route.token)}`;
    case 'organization':
      return route.tab === 'projects' ? `/organizations/${e(route.tenantId)}` : `/organizations/${e(route.tenantId)}?tab=${route.tab}`;
    case 'project':
      return route.tab === 'overview' ? `/projects/${e(route.projectId)}` : `/projects/${e(route.projectId)}?tab=${route.tab}`;
    case 'message':
      return `/projects/${e(route.projectId)}/messages/${e(route.messageId)}`;
    case 'not-found':
      return route.path;
  }
}

/** Routes a signed-out visitor may see; every other one sends them to sign in first. */
export function isPublic(route: Route): boolean {
  return route.name === 'signin' || route.name === 'signup';
}
