import { Alert, Anchor, Box, Button, Center, Container, Group, Loader, Text } from '@mantine/core';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { ConsoleContext, type Console, type Me, type SessionBody } from './context';
import { Link } from './components/common';
import { ApiClient, ProblemError } from './lib/api';
import { formatDuration, msUntil } from './lib/format';
import { hrefOf, isPublic, parseRoute, type Route } from './lib/routes';
import { AcceptInvitationPage } from './pages/AcceptInvitation';
import { MessagePage } from './pages/Message';
import { OperatorPage } from './pages/Operator';
import { OrganizationPage } from './pages/Organization';
import { OrganizationsPage } from './pages/Organizations';
import { ProjectPage } from './pages/Project';
import { SignInPage } from './pages/SignIn';

type Auth =
  | { status: 'loading' }
  | { status: 'signed-out'; notice: 'expired' | 'signed-out' | 'unavailable' | null }
  | { status: 'signed-in'; session: SessionBody; me: Me | null };

const currentRoute = (): Route => parseRoute(window.location.pathname, window.location.search);

/** Warn this long before the session ends. */
const EXPIRY_WARNING_MS = 5 * 60_000;

export function App() {
  const [route, setRoute] = useState<Route>(currentRoute);
  const [auth, setAuth] = useState<Auth>({ status: 'loading' });
  const [now, setNow] = useState(() => new Date());
  const authRef = useRef(auth);
  authRef.current = auth;

  const expire = useCallback(() => {
    if (authRef.current.status === 'signed-in') setAuth({ status: 'signed-out', notice: 'expired' });
  }, []);
  const api = useMemo(() => new ApiClient({ fetch: (input, init) => window.fetch(input, init), onUnauthenticated: expire }), [expire]);

  const navigate = useCallback((to: Route, replace = false) => {
    const href = hrefOf(to);
    if (replace) window.history.replaceState(null, '', href);
    else window.history.pushState(null, '', href);
    setRoute(to);
  }, []);

  useEffect(() => {
    const onPop = () => setRoute(currentRoute());
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  const establish = useCallback(
    async (session: SessionBody) => {
      api.setCsrfToken(session.csrfToken);
      const me = session.account.operator ? null : await api.get<Me>('me');
      setAuth({ status: 'signed-in', session, me });
    },
    [api],
  );

  // A reload restores the session from its cookie (and gets the CSRF token again).
  useEffect(() => {
    api
      .request<SessionBody>('GET', 'console/session', undefined, true)
      .then(establish)
      .catch((error: unknown) => {
        // 401 is the usual answer (no session yet); anything else leaves the sign-in page to try.
        setAuth({ status: 'signed-out', notice: error instanceof ProblemError && error.status !== 401 ? 'unavailable' : null });
      });
  }, [api, establish]);

  // The session ends visibly: a warning shortly before, the sign-in page with a notice at the end.
  useEffect(() => {
    if (auth.status !== 'signed-in') return;
    const left = msUntil(auth.session.expiresAt, new Date());
    const end = window.setTimeout(expire, Math.min(left, 2 ** 31 - 1));
    const tick = window.setInterval(() => setNow(new Date()), 30_000);
    return () => {
      window.clearTimeout(end);
      window.clearInterval(tick);
    };
  }, [auth, expire]);

  const signOut = useCallback(async () => {
    try {
      await api.delete('console/session');
    } catch {
      // Already ended (401) or unreachable: either way this page forgets the session.
    } finally {
      api.setCsrfToken(null);
      setAuth({ status: 'signed-out', notice: 'signed-out' });
      navigate({ name: 'signin' }, true);
    }
  }, [api, navigate]);

  const refreshMe = useCallback(async () => {
    const current = authRef.current;
    if (current.status !== 'signed-in' || current.session.account.operator) return;
    const me = await api.get<Me>('me');
    setAuth({ ...current, me });
  }, [api]);

  if (auth.status === 'loading') {
    return (
      <Center h="100vh" role="status" aria-live="polite">
        <Loader aria-hidden="true" />
        <Text ml="sm">Loading the console…</Text>
      </Center>
    );
  }

  if (auth.status === 'signed-out') {
    const invitation = route.name === 'accept-invitation' ? route.token : null;
    // After signing in the visitor stays where they were going; a sign-up that carried an
    // invitation has accepted it already, so it goes to the organizations.
    const onSignedIn = async (session: SessionBody, acceptedInvitation = false) => {
      await establish(session);
      const landing: Route = session.account.operator ? { name: 'operator' } : { name: 'home' };
      if (isPublic(route) || acceptedInvitation || route.name === 'home') navigate(landing, true);
    };
    return (
      <Container size="xs" py="xl" component="main">
        {auth.notice === 'expired' && (
          <Alert color="orange" title="Your session expired" role="alert" mb="md" data-testid="session-expired">
            Sign in again to continue.
          </Alert>
        )}
        {auth.notice === 'unavailable' && (
          <Alert color="red" title="The server did not answer as expected" role="alert" mb="md">
            Signing in may still work; if it does not, check that Borealis is running.
          </Alert>
        )}
        {auth.notice === 'signed-out' && (
          <Alert color="blue" title="Signed out" role="status" mb="md">
            You have signed out.
          </Alert>
        )}
        <SignInPage api={api} invitation={invitation} startWithSignUp={route.name === 'signup' || invitation !== null} onSignedIn={onSignedIn} />
      </Container>
    );
  }

  const { session, me } = auth;
  const isOperator = session.account.operator === true;
  const value: Console = { api, route, navigate, session, me, isOperator, refreshMe, signOut };
  const left = msUntil(session.expiresAt, now);

  return (
    <ConsoleContext value={value}>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <Box component="header" className="app-header" px="md" py="sm">
        <Group justify="space-between">
          <Group gap="lg" component="nav" aria-label="Main">
            <Link to={isOperator ? { name: 'operator' } : { name: 'home' }} fw={700}>
              Borealis console
            </Link>
            {!isOperator && <Link to={{ name: 'home' }}>Organizations</Link>}
            {isOperator && <Link to={{ name: 'home' }}>Tenants</Link>}
            {isOperator && <Link to={{ name: 'operator' }}>Operator</Link>}
            <Anchor href="/auth/admin/docs" target="_blank" rel="noreferrer">
              API reference
            </Anchor>
          </Group>
          <Group gap="sm">
            <Text size="sm" data-testid="signed-in-as">
              {isOperator ? 'Operator' : me?.email}
            </Text>
            <Button variant="default" size="xs" onClick={() => void signOut()}>
              Sign out
            </Button>
          </Group>
        </Group>
      </Box>
      {left < EXPIRY_WARNING_MS && (
        <Alert color="orange" role="status" m="md" title="Your session ends soon">
          {`It ends in ${formatDuration(left)}; sign in again afterwards.`}
        </Alert>
      )}
      <Container size="xl" py="md" id="main" component="main" className="app-main">
        <RouteView route={route} />
      </Container>
    </ConsoleContext>
  );
}

function RouteView({ route }: { route: Route }) {
  switch (route.name) {
    case 'home':
    case 'signin':
    case 'signup':
      return <OrganizationsPage />;
    case 'organization':
      return <OrganizationPage key={route.tenantId} tenantId={route.tenantId} tab={route.tab} />;
    case 'project':
      return <ProjectPage key={route.projectId} projectId={route.projectId} tab={route.tab} />;
    case 'message':
      return <MessagePage key={route.messageId} projectId={route.projectId} messageId={route.messageId} />;
    case 'accept-invitation':
      return <AcceptInvitationPage token={route.token} />;
    case 'operator':
      return <OperatorPage />;
    case 'not-found':
      return (
        <Alert color="gray" title="Page not found" role="alert">
          {`Nothing at ${route.path}.`}
        </Alert>
      );
  }
}
