import { Badge, Button, Group, Paper, Stack, Table, TextInput, Title } from '@mantine/core';
import { useState, type FormEvent } from 'react';
import { AsyncList, Link, PageTitle, ProblemAlert, useAsync, useSubmit } from '../components/common';
import { roleIn, useConsole } from '../context';
import { formatTime } from '../lib/format';
import { checkName } from '../lib/validate';

export interface Tenant {
  id: string;
  name: string;
  createdAt: string;
}

/** The organizations the account belongs to (every tenant, for the operator), and creating one. */
export function OrganizationsPage() {
  const c = useConsole();
  const [tenants, reload] = useAsync(() => c.api.get<Tenant[]>('tenants'), [c.api]);
  return (
    <Stack>
      <PageTitle>{c.isOperator ? 'Tenants' : 'Organizations'}</PageTitle>
      {!c.isOperator && <CreateOrganization onCreated={reload} />}
      <Paper withBorder p="md">
        <Title order={2} size="h4" mb="sm">
          {c.isOperator ? 'All tenants' : 'Your organizations'}
        </Title>
        <AsyncList value={tenants} label="organizations" reload={reload} empty="No organization yet: create one above, or accept an invitation.">
          {(items) => (
            <div className="table-scroll">
              <Table striped highlightOnHover aria-label="Organizations">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th scope="col">Name</Table.Th>
                    <Table.Th scope="col">Your role</Table.Th>
                    <Table.Th scope="col">Id</Table.Th>
                    <Table.Th scope="col">Created</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {items.map((t) => (
                    <Table.Tr key={t.id}>
                      <Table.Td>
                        <Link to={{ name: 'organization', tenantId: t.id, tab: 'projects' }}>{t.name}</Link>
                      </Table.Td>
                      <Table.Td>
                        <Badge variant="light">{c.isOperator ? 'operator' : (roleIn(c, t.id) ?? '—')}</Badge>
                      </Table.Td>
                      <Table.Td className="mono">{t.id}</Table.Td>
                      <Table.Td>{formatTime(t.createdAt)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </div>
          )}
        </AsyncList>
      </Paper>
    </Stack>
  );
}

function CreateOrganization({ onCreated }: { onCreated: () => void }) {
  const c = useConsole();
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = useSubmit(async (value: string) => {
    const tenant = await c.api.post<Tenant>('tenants', { name: value });
    await c.refreshMe();
    setName('');
    onCreated();
    c.navigate({ name: 'organization', tenantId: tenant.id, tab: 'projects' });
  });
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const problem = checkName(name, 'the organization’s name');
    setError(problem);
    if (!problem) void submit.run(name.trim());
  };
  return (
    <Paper withBorder p="md">
      <form onSubmit={onSubmit} noValidate aria-label="Create an organization">
        <Title order={2} size="h4" mb="sm">
          Create an organization
        </Title>
        <Group align="flex-start">
          <TextInput label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} error={error} required />
          <Button type="submit" mt={25} loading={submit.pending}>
            Create organization
          </Button>
        </Group>
        <ProblemAlert error={submit.error} />
      </form>
    </Paper>
  );
}
