import { Alert, Anchor, Button, Center, Group, Loader, Stack, Text, Title, type AnchorProps } from '@mantine/core';
import { useCallback, useEffect, useRef, useState, type MouseEvent, type ReactNode } from 'react';
import { useConsole } from '../context';
import { describeError, type Problem } from '../lib/api';
import { hrefOf, type Route } from '../lib/routes';

/** A link to a console route: a real href (new tab, copy link work), client-side navigation on a plain click. */
export function Link({ to, children, ...rest }: { to: Route; children: ReactNode } & AnchorProps) {
  const { navigate } = useConsole();
  const onClick = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <Anchor href={hrefOf(to)} onClick={onClick} {...rest}>
      {children}
    </Anchor>
  );
}

/** The page's heading; it takes the focus when the page opens so a screen reader announces it. */
export function PageTitle({ children, actions }: { children: ReactNode; actions?: ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => ref.current?.focus(), []);
  return (
    <Group justify="space-between" align="center" mb="md">
      <Title order={1} size="h2" ref={ref} tabIndex={-1}>
        {children}
      </Title>
      {actions}
    </Group>
  );
}

/** The server's problem details (detail, code, each field's problem) or any other error. */
export function ProblemAlert({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const problem: Problem = describeError(error);
  return (
    <Alert color="red" title={title ?? 'The server refused'} role="alert" data-testid="problem">
      <Stack gap={4}>
        <Text size="sm">{problem.detail}</Text>
        {problem.errors && (
          <ul>
            {Object.entries(problem.errors).map(([field, message]) => (
              <li key={field}>
                <Text size="sm" span fw={600}>
                  {field}
                </Text>
                : {message}
              </li>
            ))}
          </ul>
        )}
        <Text size="xs" c="dimmed">
          {problem.status ? `HTTP ${problem.status}, ` : ''}code {problem.code}
          {problem.errorId ? `, error id ${problem.errorId}` : ''}
        </Text>
      </Stack>
    </Alert>
  );
}

export type Async<T> = { state: 'loading' } | { state: 'error'; error: unknown } | { state: 'ok'; data: T };

/** Loads with `load` whenever `deps` change; `reload` loads again (keeping the shown data meanwhile). */
export function useAsync<T>(load: () => Promise<T>, deps: readonly unknown[]): [Async<T>, () => void] {
  const [value, setValue] = useState<Async<T>>({ state: 'loading' });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (data) => live && setValue({ state: 'ok', data }),
      (error: unknown) => live && setValue({ state: 'error', error }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return [value, reload];
}

/** Loading, error (with a retry) and empty states for any list; `children` renders a non-empty one. */
export function AsyncList<T>({ value, label, empty, reload, children }: { value: Async<T[]>; label: string; empty: ReactNode; reload: () => void; children: (items: T[]) => ReactNode }) {
  if (value.state === 'loading') {
    return (
      <Center py="md" role="status" aria-live="polite">
        <Loader size="sm" aria-hidden="true" />
        <Text ml="sm" size="sm">
          Loading {label}…
        </Text>
      </Center>
    );
  }
  if (value.state === 'error') {
    return (
      <Stack gap="xs">
        <ProblemAlert error={value.error} title={`Could not load ${label}`} />
        <Group>
          <Button variant="light" size="xs" onClick={reload}>
            Try again
          </Button>
        </Group>
      </Stack>
    );
  }
  if (value.data.length === 0) {
    return (
      <Text c="dimmed" size="sm" role="status" data-testid="empty">
        {empty}
      </Text>
    );
  }
  return <>{children(value.data)}</>;
}

/** Runs a form's call, tracking pending and the server's refusal. */
export function useSubmit<A extends unknown[], R>(fn: (...args: A) => Promise<R>): { run: (...args: A) => Promise<R | undefined>; pending: boolean; error: unknown; clear: () => void } {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async (...args: A): Promise<R | undefined> => {
    setPending(true);
    setError(null);
    try {
      return await fn(...args);
    } catch (e) {
      setError(e);
      return undefined;
    } finally {
      setPending(false);
    }
  };
  return { run, pending, error, clear: () => setError(null) };
}

export function RoleNote({ role, needed, what }: { role: string | null; needed: string; what: string }) {
  return (
    <Text size="sm" c="dimmed" data-testid="role-note">
      {`Your role (${role ?? 'none'}) cannot ${what}: that needs ${needed} or above.`}
    </Text>
  );
}
