import { Badge, Paper, Stack, Table } from '@mantine/core';
import { AsyncList, Link, PageTitle, useAsync } from '../components/common';
import { CreateByNameForm, ListTable, Section } from '../components/layout';
import { roleIn, useConsole } from '../context';
import { formatTime } from '../lib/format';

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
      <Section title={c.isOperator ? 'All tenants' : 'Your organizations'}>
        <AsyncList value={tenants} label="organizations" reload={reload} empty="No organization yet: create one above, or accept an invitation.">
          {(items) => (
            <ListTable highlightOnHover label="Organizations" columns={['Name', 'Your role', 'Id', 'Created']}>
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
            </ListTable>
          )}
        </AsyncList>
      </Section>
    </Stack>
  );
}

function CreateOrganization({ onCreated }: { onCreated: () => void }) {
  const c = useConsole();
  return (
    <Paper withBorder p="md">
      <CreateByNameForm
        formLabel="Create an organization"
        heading="Create an organization"
        inputLabel="Name"
        buttonLabel="Create organization"
        what="the organization’s name"
        create={async (name) => {
          const tenant = await c.api.post<Tenant>('tenants', { name });
          await c.refreshMe();
          return tenant;
        }}
        onCreated={(tenant) => {
          onCreated();
          c.navigate({ name: 'organization', tenantId: tenant.id, tab: 'projects' });
        }}
      />
    </Paper>
  );
}
