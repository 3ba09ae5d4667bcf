import { Button, Paper, PasswordInput, Stack, Tabs, Text, TextInput, Title } from '@mantine/core';
import { useState, type FormEvent } from 'react';
import { ProblemAlert, useSubmit } from '../components/common';
import type { SessionBody } from '../context';
import type { ApiClient } from '../lib/api';
import { checkEmail, checkNewPassword, type FieldErrors } from '../lib/validate';

interface Props {
  api: ApiClient;
  /** The invitation token when the visitor came from an invitation link. */
  invitation: string | null;
  startWithSignUp: boolean;
  onSignedIn: (session: SessionBody, acceptedInvitation?: boolean) => Promise<void>;
}

/** Sign in, sign up (where the operator allows it) and the operator's sign-in with the admin token. */
export function SignInPage({ api, invitation, startWithSignUp, onSignedIn }: Props) {
  const [tab, setTab] = useState<string | null>(startWithSignUp ? 'signup' : 'signin');
  return (
    <Paper withBorder p="lg" radius="md">
      <Title order={1} size="h2" mb="xs">
        Borealis console
      </Title>
      {invitation && (
        <Text size="sm" mb="md" data-testid="invitation-note">
          You were invited to an organization. Sign in, or create an account, with the invited e-mail address to accept.
        </Text>
      )}
      <Tabs value={tab} onChange={setTab} keepMounted={false}>
        <Tabs.List mb="md">
          <Tabs.Tab value="signin">Sign in</Tabs.Tab>
          <Tabs.Tab value="signup">Create account</Tabs.Tab>
          <Tabs.Tab value="operator">Operator</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="signin">
          <SignInForm api={api} onSignedIn={onSignedIn} />
        </Tabs.Panel>
        <Tabs.Panel value="signup">
          <SignUpForm api={api} invitation={invitation} onSignedIn={onSignedIn} />
        </Tabs.Panel>
        <Tabs.Panel value="operator">
          <OperatorForm api={api} onSignedIn={onSignedIn} />
        </Tabs.Panel>
      </Tabs>
    </Paper>
  );
}

function SignInForm({ api, onSignedIn }: { api: ApiClient; onSignedIn: Props['onSignedIn'] }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<FieldErrors>({});
  const submit = useSubmit(async () => onSignedIn(await api.request<SessionBody>('POST', 'console/session', { email: email.trim(), password }, true)));
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const next: FieldErrors = {};
    const emailProblem = checkEmail(email);
    if (emailProblem) next['email'] = emailProblem;
    if (!password) next['password'] = 'Enter your password.';
    setErrors(next);
    if (Object.keys(next).length === 0) void submit.run();
  };
  return (
    <form onSubmit={onSubmit} noValidate aria-label="Sign in">
      <Stack>
        <TextInput label="E-mail" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.currentTarget.value)} error={errors['email']} />
        <PasswordInput label="Password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.currentTarget.value)} error={errors['password']} />
        <ProblemAlert error={submit.error} title="Could not sign in" />
        <Button type="submit" loading={submit.pending}>
          Sign in
        </Button>
      </Stack>
    </form>
  );
}

function SignUpForm({ api, invitation, onSignedIn }: { api: ApiClient; invitation: string | null; onSignedIn: Props['onSignedIn'] }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [errors, setErrors] = useState<FieldErrors>({});
  const submit = useSubmit(async () => {
    const body: Record<string, string> = { email: email.trim(), password };
    if (invitation) body['invitation'] = invitation;
    await api.request('POST', 'accounts', body, true);
    await onSignedIn(await api.request<SessionBody>('POST', 'console/session', { email: email.trim(), password }, true), invitation !== null);
  });
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const next: FieldErrors = {};
    const emailProblem = checkEmail(email);
    if (emailProblem) next['email'] = emailProblem;
    const passwordProblem = checkNewPassword(password);
    if (passwordProblem) next['password'] = passwordProblem;
    else if (confirm !== password) next['confirm'] = 'The two passwords differ.';
    setErrors(next);
    if (Object.keys(next).length === 0) void submit.run();
  };
  return (
    <form onSubmit={onSubmit} noValidate aria-label="Create account">
      <Stack>
        <Text size="sm" c="dimmed">
          Whether anyone may sign up is the operator&apos;s choice; where it is by invitation only, use the link you were sent.
        </Text>
        <TextInput label="E-mail" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.currentTarget.value)} error={errors['email']} />
        <PasswordInput
          label="Password"
          description="At least 12 characters."
          autoComplete="new-password"
          required
          value={password}
          onChange={(e) => setPassword(e.currentTarget.value)}
          error={errors['password']}
        />
        <PasswordInput label="Repeat the password" autoComplete="new-password" required value={confirm} onChange={(e) => setConfirm(e.currentTarget.value)} error={errors['confirm']} />
        <ProblemAlert error={submit.error} title="Could not create the account" />
        <Button type="submit" loading={submit.pending}>
          Create account
        </Button>
      </Stack>
    </form>
  );
}

function OperatorForm({ api, onSignedIn }: { api: ApiClient; onSignedIn: Props['onSignedIn'] }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>();
  const submit = useSubmit(async () => onSignedIn(await api.request<SessionBody>('POST', 'console/operator-session', { token: token.trim() }, true)));
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    setError(token.trim() ? undefined : 'Paste the admin token.');
    if (token.trim()) void submit.run();
  };
  return (
    <form onSubmit={onSubmit} noValidate aria-label="Operator sign in">
      <Stack>
        <Text size="sm" c="dimmed">
          The operator signs in with the installation&apos;s admin token (standalone: <code>secrets.json</code> in the data directory; distributed: <code>BOREALIS_ADMIN_TOKEN</code>). It is sent once; the console keeps only a session cookie.
        </Text>
        <PasswordInput label="Admin token" autoComplete="off" required value={token} onChange={(e) => setToken(e.currentTarget.value)} error={error} />
        <ProblemAlert error={submit.error} title="Could not sign in as the operator" />
        <Button type="submit" loading={submit.pending}>
          Sign in as operator
        </Button>
      </Stack>
    </form>
  );
}
