import { hrefOf, isPublic, parseRoute, type Route } from './routes';

describe('console routes', () => {
  it('parses every page and renders it back to the same URL', () => {
    const cases: [string, string, Route][] = [
      ['/', '', { name: 'home' }],
      ['/signin', '', { name: 'signin' }],
      ['/signup', '', { name: 'signup' }],
      ['/operator', '', { name: 'operator' }],
      ['/organizations/t1', '', { name: 'organization', tenantId: 't1', tab: 'projects' }],
      ['/organizations/t1', '?tab=audit', { name: 'organization', tenantId: 't1', tab: 'audit' }],
      ['/projects/p1', '', { name: 'project', projectId: 'p1', tab: 'overview' }],
      ['/projects/p1', '?tab=send', { name: 'project', projectId: 'p1', tab: 'send' }],
      ['/projects/p1/messages/0193-abc', '', { name: 'message', projectId: 'p1', messageId: '0193-abc' }],
      ['/invitations/accept', '?token=bci_x%2By', { name: 'accept-invitation', token: 'bci_x+y' }],
    ];
    for (const [path, search, route] of cases) {
      expect(parseRoute(path, search)).toEqual(route);
      const href = hrefOf(route);
      const [p, q] = href.split('?');
      expect(parseRoute(p!, q ? `?${q}` : '')).toEqual(route);
    }
  });

  it('falls back to the first tab for an unknown one, and to not-found for unknown paths', () => {
    expect(parseRoute('/projects/p1', '?tab=nope')).toEqual({ name: 'project', projectId: 'p1', tab: 'overview' });
    expect(parseRoute('/nowhere/at/all', '')).toEqual({ name: 'not-found', path: '/nowhere/at/all' });
    expect(parseRoute('/projects/%E0%A4%A', '')).toEqual({ name: 'not-found', path: '/projects/%E0%A4%A' });
  });

  it('encodes ids in links', () => {
    expect(hrefOf({ name: 'message', projectId: 'a/b', messageId: 'c d' })).toBe('/projects/a%2Fb/messages/c%20d');
    expect(hrefOf({ name: 'accept-invitation', token: 'a&b=c' })).toBe('/invitations/accept?token=a%26b%3Dc');
  });

  it('lets only sign-in and sign-up be seen signed out', () => {
    expect(isPublic({ name: 'signin' })).toBe(true);
    expect(isPublic({ name: 'signup' })).toBe(true);
    expect(isPublic({ name: 'home' })).toBe(false);
    expect(isPublic({ name: 'accept-invitation', token: 't' })).toBe(false);
  });
});
