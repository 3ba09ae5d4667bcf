import { Alert, Badge, Button, Code, Group, NativeSelect, Stack, Table, Tabs, Text, TextInput } from '@mantine/core';
import { useState, type FormEvent } from 'react';
import { AsyncList, Link, PageTitle, ProblemAlert, RoleNote, useAsync, useSubmit } from '../components/common';
import { CreateByNameForm, ListTable, Section } from '../components/layout';
import { ROLES, atLeast, roleIn, useConsole, type Role } from '../context';
import { distinct, filterAudit, formatTime, type AuditEntry } from '../lib/format';
import { hrefOf, type OrganizationTab } from '../lib/routes';
import { checkEmail } from '../lib/validate';
import type { Tenant } from './Organizations';

export interface Project {
  id: string;
  tenantId: string;
  name: string;
  isActive: boolean;
  createdAt: string;
  updatedAt: string;
}

interface Member {
  accountId: string;
  email: string;
  role: Role;
  since: string;
}

interface Invitation {
  id: string;
  email: string;
  role: Role;
  createdAt: string;
  expiresAt: string;
  acceptedAt: string | null;
  revokedAt: string | null;
}

const TAB_LABELS: Record<OrganizationTab, string> = { projects: 'Projects', members: 'Members', invitations: 'Invitations', audit: 'Audit log' };

export function OrganizationPage({ tenantId, tab }: { tenantId: string; tab: OrganizationTab }) {
  const c = useConsole();
  const [tenant] = useAsync(() => c.api.get<Tenant>(`tenants/${encodeURIComponent(tenantId)}`), [c.api, tenantId]);
  const role = roleIn(c, tenantId);
  return (
    <Stack>
      <Text size="sm">
        <Link to={{ name: 'home' }}>{c.isOperator ? 'Tenants' : 'Organizations'}</Link> /
      </Text>
      <PageTitle actions={<Badge variant="light">{c.isOperator ? 'operator' : `your role: ${role ?? 'none'}`}</Badge>}>
        {tenant.state === 'ok' ? tenant.data.name : 'Organization'}
      </PageTitle>
      {tenant.state === 'error' && <ProblemAlert error={tenant.error} title="Could not load the organization" />}
      <Tabs value={tab} onChange={(value) => value && c.navigate({ name: 'organization', tenantId, tab: value as OrganizationTab })} keepMounted={false}>
        <Tabs.List aria-label="Organization sections">
          {(Object.keys(TAB_LABELS) as OrganizationTab[]).map((t) => (
            <Tabs.Tab key={t} value={t}>
              {TAB_LABELS[t]}
            </Tabs.Tab>
          ))}
        </Tabs.List>
        <Tabs.Panel value="projects" pt="md">
          <ProjectsSection tenantId={tenantId} role={role} />
        </Tabs.Panel>
        <Tabs.Panel value="members" pt="md">
          <MembersSection tenantId={tenantId} role={role} />
        </Tabs.Panel>
        <Tabs.Panel value="invitations" pt="md">
          <InvitationsSection tenantId={tenantId} role={role} />
        </Tabs.Panel>
        <Tabs.Panel value="audit" pt="md">
          <AuditSection tenantId={tenantId} role={role} />
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}

function ProjectsSection({ tenantId, role }: { tenantId: string; role: Role | null }) {
  const c = useConsole();
  const [projects, reload] = useAsync(() => c.api.get<Project[]>(`tenants/${encodeURIComponent(tenantId)}/projects`), [c.api, tenantId]);
  return (
    <Stack>
      <Section title="Create a project">
        {atLeast(role, 'admin') ? (
          <CreateByNameForm
            formLabel="Create a project"
            inputLabel="Project name"
            buttonLabel="Create project"
            what="the project’s name"
            create={(name) => c.api.post<Project>(`tenants/${encodeURIComponent(tenantId)}/projects`, { name })}
            onCreated={(project) => {
              reload();
              c.navigate({ name: 'project', projectId: project.id, tab: 'overview' });
            }}
          />
        ) : (
          <RoleNote role={role} needed="admin" what="create projects" />
        )}
      </Section>
      <Section title="Projects">
        <AsyncList value={projects} label="projects" reload={reload} empty="No project yet.">
          {(items) => (
            <ListTable label="Projects" columns={['Name', 'State', 'Project id', 'Created']}>
              {items.map((p) => (
                <Table.Tr key={p.id}>
                  <Table.Td>
                    <Link to={{ name: 'project', projectId: p.id, tab: 'overview' }}>{p.name}</Link>
                  </Table.Td>
                  <Table.Td>
                    <Badge color={p.isActive ? 'green' : 'gray'}>{p.isActive ? 'active' : 'inactive'}</Badge>
                  </Table.Td>
                  <Table.Td className="mono">{p.id}</Table.Td>
                  <Table.Td>{formatTime(p.createdAt)}</Table.Td>
                </Table.Tr>
              ))}
            </ListTable>
          )}
        </AsyncList>
      </Section>
    </Stack>
  );
}

function MembersSection({ tenantId, role }: { tenantId: string; role: Role | null }) {
  const c = useConsole();
  const base = `tenants/${encodeURIComponent(tenantId)}/members`;
  const [members, reload] = useAsync(() => c.api.get<Member[]>(base), [c.api, tenantId]);
  const change = useSubmit(async (accountId: string, next: Role) => {
    await c.api.patch(`${base}/${encodeURIComponent(accountId)}`, { role: next });
    reload();
  });
  const remove = useSubmit(async (accountId: string) => {
    await c.api.delete(`${base}/${encodeURIComponent(accountId)}`);
    reload();
  });
  const canManage = atLeast(role, 'admin');
  return (
    <Section title="Members and roles">
      {!canManage && <RoleNote role={role} needed="admin" what="change roles or remove members" />}
      <ProblemAlert error={change.error ?? remove.error} />
      <AsyncList value={members} label="members" reload={reload} empty="No members.">
        {(items) => (
          <ListTable label="Members" columns={['E-mail', 'Role', 'Member since', canManage && 'Actions']}>
            {items.map((m) => (
              <Table.Tr key={m.accountId}>
                <Table.Td>{m.email}</Table.Td>
                <Table.Td>
                  {canManage ? (
                    <NativeSelect
                      aria-label={`Role of ${m.email}`}
                      data={ROLES.filter((r) => r !== 'owner' || role === 'owner' || m.role === 'owner').map((r) => ({ value: r, label: r }))}
                      value={m.role}
                      disabled={change.pending}
                      onChange={(e) => void change.run(m.accountId, e.currentTarget.value as Role)}
                    />
                  ) : (
                    <Badge variant="light">{m.role}</Badge>
                  )}
                </Table.Td>
                <Table.Td>{formatTime(m.since)}</Table.Td>
                {canManage && (
                  <Table.Td>
                    <Button size="xs" color="red" variant="light" onClick={() => void remove.run(m.accountId)} aria-label={`Remove ${m.email}`}>
                      Remove
                    </Button>
                  </Table.Td>
                )}
              </Table.Tr>
            ))}
          </ListTable>
        )}
      </AsyncList>
    </Section>
  );
}

function invitationState(i: Invitation): string {
  if (i.acceptedAt) return 'accepted';
  if (i.revokedAt) return 'revoked';
  if (Date.parse(i.expiresAt) <= Date.now()) return 'expired';
  return 'pending';
}

function InvitationsSection({ tenantId, role }: { tenantId: string; role: Role | null }) {
  const c = useConsole();
  const base = `tenants/${encodeURIComponent(tenantId)}/invitations`;
  const canInvite = atLeast(role, 'admin');
  const [invitations, reload] = useAsync(() => (canInvite ? c.api.get<Invitation[]>(base) : Promise.resolve([])), [c.api, tenantId, canInvite]);
  const [email, setEmail] = useState('');
  const [inviteRole, setInviteRole] = useState<Role>('developer');
  const [error, setError] = useState<string | null>(null);
  const [link, setLink] = useState<{ email: string; url: string } | null>(null);
  const invite = useSubmit(async () => {
    const created = await c.api.post<Invitation & { token: string }>(base, { email: email.trim(), role: inviteRole });
    setLink({ email: created.email, url: `${window.location.origin}${hrefOf({ name: 'accept-invitation', token: created.token })}` });
    setEmail('');
    reload();
  });
  const revoke = useSubmit(async (id: string) => {
    await c.api.delete(`${base}/${encodeURIComponent(id)}`);
    reload();
  });
  if (!canInvite) return <RoleNote role={role} needed="admin" what="see or send invitations" />;
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const problem = checkEmail(email);
    setError(problem);
    if (!problem) void invite.run();
  };
  return (
    <Stack>
      <Section title="Invite someone">
        <form onSubmit={onSubmit} noValidate aria-label="Invite">
          <Group align="flex-start">
            <TextInput label="E-mail" type="email" value={email} onChange={(e) => setEmail(e.currentTarget.value)} error={error} required />
            <NativeSelect
              label="Role"
              value={inviteRole}
              onChange={(e) => setInviteRole(e.currentTarget.value as Role)}
              data={ROLES.filter((r) => r !== 'owner' || role === 'owner').map((r) => ({ value: r, label: r }))}
            />
            <Button type="submit" mt={25} loading={invite.pending}>
              Invite
            </Button>
          </Group>
          <ProblemAlert error={invite.error} />
        </form>
        {link && (
          <Alert color="green" mt="md" title={`Invitation for ${link.email}`} role="status" withCloseButton onClose={() => setLink(null)} closeButtonLabel="Dismiss the link">
            <Text size="sm">Pass this link on (valid 7 days, single use; it is shown only now):</Text>
            <Code block data-testid="invitation-link">
              {link.url}
            </Code>
          </Alert>
        )}
      </Section>
      <Section title="Invitations">
        <ProblemAlert error={revoke.error} />
        <AsyncList value={invitations} label="invitations" reload={reload} empty="No invitation sent yet.">
          {(items) => (
            <ListTable label="Invitations" columns={['E-mail', 'Role', 'State', 'Expires', 'Actions']}>
              {items.map((i) => (
                <Table.Tr key={i.id}>
                  <Table.Td>{i.email}</Table.Td>
                  <Table.Td>{i.role}</Table.Td>
                  <Table.Td>
                    <Badge variant="light">{invitationState(i)}</Badge>
                  </Table.Td>
                  <Table.Td>{formatTime(i.expiresAt)}</Table.Td>
                  <Table.Td>
                    {invitationState(i) === 'pending' && (
                      <Button size="xs" variant="light" color="red" onClick={() => void revoke.run(i.id)} aria-label={`Revoke the invitation of ${i.email}`}>
                        Revoke
                      </Button>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </ListTable>
          )}
        </AsyncList>
      </Section>
    </Stack>
  );
}

function AuditSection({ tenantId, role }: { tenantId: string; role: Role | null }) {
  const c = useConsole();
  const base = `tenants/${encodeURIComponent(tenantId)}/audit-log`;
  const canRead = atLeast(role, 'admin');
  const [pages, setPages] = useState<AuditEntry[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [first, reload] = useAsync(async () => {
    if (!canRead) return [];
    const page = await c.api.get<{ entries: AuditEntry[]; next: string | null }>(base, { limit: 100 });
    setPages([]);
    setNext(page.next);
    return page.entries;
  }, [c.api, tenantId, canRead]);
  const more = useSubmit(async () => {
    if (!next) return;
    const page = await c.api.get<{ entries: AuditEntry[]; next: string | null }>(base, { limit: 100, before: next });
    setPages((p) => [...p, ...page.entries]);
    setNext(page.next);
  });
  // Entries name accounts by id: show the members' e-mail addresses where known.
  const [members] = useAsync(() => (canRead ? c.api.get<Member[]>(`tenants/${encodeURIComponent(tenantId)}/members`) : Promise.resolve([])), [c.api, tenantId, canRead]);
  const who = (actorId: string): string => (members.state === 'ok' ? members.data.find((m) => m.accountId === actorId)?.email : undefined) ?? actorId;
  const [action, setAction] = useState('');
  const [actor, setActor] = useState('');
  const [text, setText] = useState('');
  if (!canRead) return <RoleNote role={role} needed="admin" what="read the audit log" />;
  const all = first.state === 'ok' ? [...first.data, ...pages] : [];
  const value = first.state === 'ok' ? { state: 'ok' as const, data: filterAudit(all, { action, actor, text }) } : first;
  return (
    <Section title="Audit log">
      <Group align="flex-end" mb="md" role="search" aria-label="Filter the audit log">
        <NativeSelect label="Action" value={action} onChange={(e) => setAction(e.currentTarget.value)} data={[{ value: '', label: 'any action' }, ...distinct(all.map((e) => e.action))]} />
        <NativeSelect label="Who" value={actor} onChange={(e) => setActor(e.currentTarget.value)} data={[{ value: '', label: 'anyone' }, ...distinct(all.map((e) => e.actor)).map((a) => ({ value: a, label: who(a) }))]} />
        <TextInput label="Entity or details contain" value={text} onChange={(e) => setText(e.currentTarget.value)} />
      </Group>
      <AsyncList value={value} label="the audit log" reload={reload} empty={all.length === 0 ? 'Nothing recorded yet.' : 'No entry matches the filters.'}>
        {(items) => (
          <ListTable label="Audit log" columns={['When', 'Who', 'Action', 'Entity', 'Details']}>
            {items.map((e) => (
              <Table.Tr key={e.seq}>
                <Table.Td>{formatTime(e.at)}</Table.Td>
                <Table.Td>{who(e.actor)}</Table.Td>
                <Table.Td>{e.action}</Table.Td>
                <Table.Td className="mono">
                  {e.entityType} {e.entityId}
                </Table.Td>
                <Table.Td className="mono">{JSON.stringify(e.details)}</Table.Td>
              </Table.Tr>
            ))}
          </ListTable>
        )}
      </AsyncList>
      {next && (
        <Button mt="sm" variant="light" onClick={() => void more.run()} loading={more.pending}>
          Load older entries
        </Button>
      )}
      <ProblemAlert error={more.error} />
    </Section>
  );
}
