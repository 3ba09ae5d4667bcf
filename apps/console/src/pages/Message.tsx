import { Paper, Stack, Text } from '@mantine/core';
import { Link, PageTitle, ProblemAlert } from '../components/common';
import { MessageStatusView } from '../components/MessageStatus';
import { useMessagePolling } from './Project';

/** One message: its state and each recipient's, refreshed until it stops changing. */
export function MessagePage({ projectId, messageId }: { projectId: string; messageId: string }) {
  const { status, error, polling } = useMessagePolling(projectId, messageId);
  return (
    <Stack>
      <Text size="sm">
        <Link to={{ name: 'project', projectId, tab: 'messages' }}>Project messages</Link> /
      </Text>
      <PageTitle>
        Message <span className="mono">{messageId}</span>
      </PageTitle>
      <Paper withBorder p="md" aria-live="polite">
        {status && <MessageStatusView status={status} />}
        {!status && !error && <Text role="status">{polling ? 'Loading…' : 'No message with this id in this project.'}</Text>}
        <ProblemAlert error={error} title="Could not read the message" />
      </Paper>
    </Stack>
  );
}
