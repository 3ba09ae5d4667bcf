import type { MessageStatusV1 } from '@borealis/contracts';
import { Badge, Group, Stack, Table, Text } from '@mantine/core';
import { ListTable } from './layout';
import { formatTime, stateColor } from '../lib/format';

/** A message's state, counts and (when given) per-recipient status. */
export function MessageStatusView({ status }: { status: MessageStatusV1 | Omit<MessageStatusV1, 'recipients'> }) {
  const recipients = 'recipients' in status ? status.recipients : null;
  return (
    <Stack gap="sm">
      <Group gap="sm">
        <Text fw={600}>State</Text>
        <Badge color={stateColor(status.state)} size="lg" data-testid="message-state">
          {status.state}
        </Badge>
        <Text size="sm" c="dimmed">
          {`to ${status.target.type} `}
          <span className="mono">{status.target.value}</span>
        </Text>
      </Group>
      <Text size="sm">
        {`Accepted ${formatTime(status.createdAt)}; expires ${formatTime(status.expiresAt)}`}
        {status.cancelledAt ? `; cancelled ${formatTime(status.cancelledAt)}` : ''}
        {status.sendAt ? `; scheduled for ${formatTime(status.sendAt)}` : ''}
      </Text>
      <Group gap="xs" aria-label="Recipients by state" role="list">
        {Object.entries(status.counts).map(([state, count]) => (
          <Badge key={state} variant="outline" color={stateColor(state)} role="listitem">
            {`${state}: ${count}`}
          </Badge>
        ))}
      </Group>
      {recipients &&
        (recipients.length === 0 ? (
          <Text size="sm" c="dimmed" role="status">
            No recipients (yet): a group target is resolved after acceptance.
          </Text>
        ) : (
          <ListTable label="Recipients" columns={['Registration', 'State', 'Updated']}>
            {recipients.map((r) => (
              <Table.Tr key={r.registrationId}>
                <Table.Td className="mono">{r.registrationId}</Table.Td>
                <Table.Td>
                  <Badge color={stateColor(r.state)} variant="light">
                    {r.state}
                  </Badge>
                </Table.Td>
                <Table.Td>{formatTime(r.updatedAt)}</Table.Td>
              </Table.Tr>
            ))}
          </ListTable>
        ))}
    </Stack>
  );
}
