import { Alert, Button, Paper, Stack, Text } from '@mantine/core';
import { useState } from 'react';
import { Link, PageTitle, ProblemAlert, useSubmit } from '../components/common';
import { useConsole } from '../context';

/** The target of an invitation link: the signed-in invitee accepts it (the server checks the address). */
export function AcceptInvitationPage({ token }: { token: string }) {
  const c = useConsole();
  const [joined, setJoined] = useState<{ tenantId: string; role: string } | null>(null);
  const accept = useSubmit(async () => {
    const member = await c.api.post<{ tenantId: string; role: string }>('invitations/accept', { token });
    await c.refreshMe();
    setJoined(member);
  });
  return (
    <Stack maw={640}>
      <PageTitle>Accept an invitation</PageTitle>
      <Paper withBorder p="md">
        {!token ? (
          <Alert color="red" role="alert" title="This link has no invitation token">
            Open the link exactly as you received it.
          </Alert>
        ) : joined ? (
          <Alert color="green" role="status" title="Invitation accepted">
            <Text size="sm">{`You joined the organization as ${joined.role}.`}</Text>
            <Link to={{ name: 'organization', tenantId: joined.tenantId, tab: 'projects' }}>Open the organization</Link>
          </Alert>
        ) : (
          <Stack>
            <Text>{`You are signed in as ${c.me?.email ?? 'the operator'}. An invitation is accepted by the account of the address it was sent to.`}</Text>
            <ProblemAlert error={accept.error} title="Could not accept the invitation" />
            <Button onClick={() => void accept.run()} loading={accept.pending} w="fit-content">
              Accept the invitation
            </Button>
          </Stack>
        )}
      </Paper>
    </Stack>
  );
}
