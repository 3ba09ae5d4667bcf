import type { MessageListV1, MessageStatusV1, MessageSummaryV1, ProjectStatsV1 } from '@borealis/contracts';
import { Alert, Badge, Button, Code, Group, JsonInput, NativeSelect, Paper, SegmentedControl, Stack, Table, Tabs, Text, TextInput } from '@mantine/core';
import { useEffect, useState, type FormEvent } from 'react';
import { AsyncList, Link, PageTitle, ProblemAlert, RoleNote, useAsync, useSubmit, type Async } from '../components/common';
import { CreateByNameForm, ListTable, Section } from '../components/layout';
import { MessageStatusView } from '../components/MessageStatus';
import { StatsChart } from '../components/StatsChart';
import { atLeast, roleIn, useConsole, type Role } from '../context';
import { ProblemError } from '../lib/api';
import { STAT_SERIES, formatTime, isFinalMessageState, keyState, lastDays, settingsYaml, stateColor, totals } from '../lib/format';
import type { ProjectTab } from '../lib/routes';
import { buildSendBody, checkDayRange, parseExpiry, type FieldErrors, type SendForm, type TargetType } from '../lib/validate';
import type { Project } from './Organization';

interface KeyView {
  keyId: string;
  origin: 'generated' | 'uploaded';
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

interface ProjectDetail extends Project {
  serviceAccount: { clientId: string; scopes: string[]; createdAt: string; keys: KeyView[] } | null;
}

interface KeyIssued {
  clientId: string;
  keyId: string;
  scopes: string[];
  expiresAt: string | null;
  settings: Record<string, Record<string, string>>;
}

export interface Application {
  id: string;
  projectId: string;
  name: string;
  isActive: boolean;
  registrationSecretRequired: boolean;
  createdAt: string;
  /** Live registrations of the application; null when push-core could not be asked just now. */
  registrations?: number | null;
}

const TAB_LABELS: Record<ProjectTab, string> = {
  overview: 'Overview',
  keys: 'Keys',
  applications: 'Applications',
  stats: 'Statistics',
  messages: 'Messages',
  send: 'Test send',
};

export function ProjectPage({ projectId, tab }: { projectId: string; tab: ProjectTab }) {
  const c = useConsole();
  const [project, reload] = useAsync(() => c.api.get<ProjectDetail>(`projects/${encodeURIComponent(projectId)}`), [c.api, projectId]);
  const role = project.state === 'ok' ? roleIn(c, project.data.tenantId) : null;
  return (
    <Stack>
      {project.state === 'ok' && (
        <Text size="sm">
          <Link to={{ name: 'organization', tenantId: project.data.tenantId, tab: 'projects' }}>Organization</Link> / projects /
        </Text>
      )}
      <PageTitle
        actions={
          project.state === 'ok' && (
            <Group gap="xs">
              <Badge color={project.data.isActive ? 'green' : 'gray'} data-testid="project-state">
                {project.data.isActive ? 'active' : 'inactive'}
              </Badge>
              <Badge variant="light">{`your role: ${role ?? 'none'}`}</Badge>
            </Group>
          )
        }
      >
        {project.state === 'ok' ? `Project ${project.data.name}` : 'Project'}
      </PageTitle>
      {project.state === 'error' && <ProblemAlert error={project.error} title="Could not load the project" />}
      {project.state === 'ok' && (
        <Tabs value={tab} onChange={(value) => value && c.navigate({ name: 'project', projectId, tab: value as ProjectTab })} keepMounted={false}>
          <Tabs.List aria-label="Project sections">
            {(Object.keys(TAB_LABELS) as ProjectTab[]).map((t) => (
              <Tabs.Tab key={t} value={t}>
                {TAB_LABELS[t]}
              </Tabs.Tab>
            ))}
          </Tabs.List>
          <Tabs.Panel value="overview" pt="md">
            <Overview project={project.data} role={role} onChanged={reload} />
          </Tabs.Panel>
          <Tabs.Panel value="keys" pt="md">
            <Keys projectId={projectId} role={role} />
          </Tabs.Panel>
          <Tabs.Panel value="applications" pt="md">
            <Applications projectId={projectId} role={role} />
          </Tabs.Panel>
          <Tabs.Panel value="stats" pt="md">
            <Statistics projectId={projectId} />
          </Tabs.Panel>
          <Tabs.Panel value="messages" pt="md">
            <Messages projectId={projectId} />
          </Tabs.Panel>
          <Tabs.Panel value="send" pt="md">
            <TestSend projectId={projectId} role={role} />
          </Tabs.Panel>
        </Tabs>
      )}
    </Stack>
  );
}

function Overview({ project, role, onChanged }: { project: ProjectDetail; role: Role | null; onChanged: () => void }) {
  const c = useConsole();
  const toggle = useSubmit(async () => {
    await c.api.patch(`projects/${encodeURIComponent(project.id)}`, { isActive: !project.isActive });
    onChanged();
  });
  return (
    <Paper withBorder p="md">
      <Stack gap="xs">
        <Text>
          Project id: <Code>{project.id}</Code>
        </Text>
        <Text>
          Service account (client id): <Code>{project.serviceAccount?.clientId ?? 'none yet: create a key'}</Code>
        </Text>
        <Text>{`Created ${formatTime(project.createdAt)}, updated ${formatTime(project.updatedAt)}`}</Text>
        <Text size="sm" c="dimmed">
          An inactive project gets no tokens and its sends are refused; devices stay registered.
        </Text>
        {atLeast(role, 'admin') ? (
          <Group>
            <Button color={project.isActive ? 'red' : 'green'} variant="light" loading={toggle.pending} onClick={() => void toggle.run()}>
              {project.isActive ? 'Deactivate project' : 'Activate project'}
            </Button>
          </Group>
        ) : (
          <RoleNote role={role} needed="admin" what="activate or deactivate the project" />
        )}
        <ProblemAlert error={toggle.error} />
      </Stack>
    </Paper>
  );
}

function downloadText(fileName: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/yaml' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function Keys({ projectId, role }: { projectId: string; role: Role | null }) {
  const c = useConsole();
  const base = `projects/${encodeURIComponent(projectId)}/service-accounts`;
  const [keys, reload] = useAsync(() => c.api.get<KeyView[]>(`${base}/keys`), [c.api, projectId]);
  const [expiresAt, setExpiresAt] = useState('');
  const [expiryError, setExpiryError] = useState<string | null>(null);
  const [issued, setIssued] = useState<KeyIssued | null>(null);
  const [downloaded, setDownloaded] = useState(false);
  const create = useSubmit(async (expiry: string | undefined) => {
    const key = await c.api.post<KeyIssued>(base, expiry ? { expiresAt: expiry } : {});
    setIssued(key);
    setDownloaded(false);
    reload();
  });
  const revoke = useSubmit(async (keyId: string) => {
    await c.api.delete(`${base}/keys/${encodeURIComponent(keyId)}`);
    reload();
  });
  const expire = useSubmit(async (keyId: string, at: string) => {
    await c.api.patch(`${base}/keys/${encodeURIComponent(keyId)}`, { expiresAt: at });
    reload();
  });
  const [expiryKey, setExpiryKey] = useState('');
  const [expiryAt, setExpiryAt] = useState('');
  const [otherExpiryError, setOtherExpiryError] = useState<string | null>(null);
  const canWrite = atLeast(role, 'developer');

  const onCreate = (event: FormEvent) => {
    event.preventDefault();
    if (!expiresAt) {
      setExpiryError(null);
      void create.run(undefined);
      return;
    }
    const parsed = parseExpiry(expiresAt, new Date());
    setExpiryError(parsed.ok ? null : parsed.error);
    if (parsed.ok) void create.run(parsed.value);
  };
  const onSetExpiry = (event: FormEvent) => {
    event.preventDefault();
    const parsed = parseExpiry(expiryAt, new Date());
    setOtherExpiryError(!expiryKey ? 'Choose a key.' : parsed.ok ? null : parsed.error);
    if (expiryKey && parsed.ok) void expire.run(expiryKey, parsed.value);
  };
  const now = new Date();
  const live = keys.state === 'ok' ? keys.data.filter((k) => keyState(k, now) === 'active' || keyState(k, now) === 'expiring') : [];

  return (
    <Stack>
      <Section title="Create a key">
        {canWrite ? (
          <form onSubmit={onCreate} noValidate aria-label="Create a key">
            <Text size="sm" mb="sm">
              Generates a key pair for the project&apos;s service account. The private key is in the settings file you download next: it is shown only once and
              never stored by Borealis.
            </Text>
            <Group align="flex-start">
              <TextInput
                type="datetime-local"
                label="Expires (optional, your local time)"
                value={expiresAt}
                onChange={(e) => setExpiresAt(e.currentTarget.value)}
                error={expiryError}
              />
              <Button type="submit" mt={25} loading={create.pending}>
                Create key
              </Button>
            </Group>
            <ProblemAlert error={create.error} />
          </form>
        ) : (
          <RoleNote role={role} needed="developer" what="create, expire or revoke keys" />
        )}
        {issued && (
          <Alert color="orange" mt="md" title={`Key ${issued.keyId} created`} role="alert" data-testid="key-issued">
            <Stack gap="xs">
              <Text size="sm">
                Download the project settings file now: it holds the private key, which is offered this once. Closing this message forgets it.
              </Text>
              <Group>
                <Button
                  onClick={() => {
                    downloadText('push_notification_system.yaml', settingsYaml(issued.settings));
                    setDownloaded(true);
                  }}
                >
                  Download push_notification_system.yaml
                </Button>
                <Button variant="default" onClick={() => setIssued(null)}>
                  {downloaded ? 'Done' : 'Close without downloading'}
                </Button>
              </Group>
              {downloaded && (
                <Text size="sm" role="status">
                  Downloaded. Keep it secret: anyone with it can send pushes for this project.
                </Text>
              )}
            </Stack>
          </Alert>
        )}
      </Section>
      <Section title="Keys">
        <ProblemAlert error={revoke.error ?? expire.error} />
        <AsyncList value={keys} label="keys" reload={reload} empty="No key yet: create one to get a settings file.">
          {(items) => (
            <ListTable label="Keys" columns={['Key id', 'State', 'Origin', 'Created', 'Expires', canWrite && 'Actions']}>
              {items.map((k) => {
                const state = keyState(k, now);
                return (
                  <Table.Tr key={k.keyId}>
                    <Table.Td className="mono">{k.keyId}</Table.Td>
                    <Table.Td>
                      <Badge color={state === 'active' ? 'green' : state === 'expiring' ? 'orange' : 'gray'}>{state}</Badge>
                    </Table.Td>
                    <Table.Td>{k.origin}</Table.Td>
                    <Table.Td>{formatTime(k.createdAt)}</Table.Td>
                    <Table.Td>{formatTime(k.expiresAt)}</Table.Td>
                    {canWrite && (
                      <Table.Td>
                        {(state === 'active' || state === 'expiring') && (
                          <Group gap="xs">
                            <Button size="xs" variant="light" onClick={() => void expire.run(k.keyId, new Date().toISOString())} aria-label={`Expire now: key ${k.keyId}`}>
                              Expire now
                            </Button>
                            <Button size="xs" variant="light" color="red" onClick={() => void revoke.run(k.keyId)} aria-label={`Revoke key ${k.keyId}`}>
                              Revoke
                            </Button>
                          </Group>
                        )}
                      </Table.Td>
                    )}
                  </Table.Tr>
                );
              })}
            </ListTable>
          )}
        </AsyncList>
      </Section>
      {canWrite && live.length > 0 && (
        <Section title="Set a key's expiry">
          <form onSubmit={onSetExpiry} noValidate aria-label="Set a key's expiry">
            <Group align="flex-start">
              <NativeSelect label="Key" value={expiryKey} onChange={(e) => setExpiryKey(e.currentTarget.value)} data={[{ value: '', label: 'choose a key' }, ...live.map((k) => k.keyId)]} />
              <TextInput type="datetime-local" label="Expires at (your local time)" value={expiryAt} onChange={(e) => setExpiryAt(e.currentTarget.value)} error={otherExpiryError} />
              <Button type="submit" mt={25} loading={expire.pending}>
                Set expiry
              </Button>
            </Group>
          </form>
        </Section>
      )}
    </Stack>
  );
}

function Applications({ projectId, role }: { projectId: string; role: Role | null }) {
  const c = useConsole();
  const base = `projects/${encodeURIComponent(projectId)}/applications`;
  const [apps, reload] = useAsync(() => c.api.get<Application[]>(base), [c.api, projectId]);
  return (
    <Stack>
      <Section title="Create an application">
        {atLeast(role, 'developer') ? (
          <CreateByNameForm
            formLabel="Create an application"
            inputLabel="Application name"
            buttonLabel="Create application"
            what="the application’s name"
            create={(name) => c.api.post<Application>(base, { name })}
            onCreated={reload}
          />
        ) : (
          <RoleNote role={role} needed="developer" what="create applications" />
        )}
      </Section>
      <Section
        title="Applications"
        actions={
          <Button size="xs" variant="default" onClick={reload}>
            Refresh
          </Button>
        }
      >
        <AsyncList value={apps} label="applications" reload={reload} empty="No application yet.">
          {(items) => (
            <ListTable label="Applications" columns={['Name', 'Application id', 'State', 'Registrations', 'Created']}>
              {items.map((a) => (
                <Table.Tr key={a.id}>
                  <Table.Td>{a.name}</Table.Td>
                  <Table.Td className="mono" data-testid="application-id">
                    {a.id}
                  </Table.Td>
                  <Table.Td>
                    <Badge color={a.isActive ? 'green' : 'gray'}>{a.isActive ? 'active' : 'inactive'}</Badge>
                  </Table.Td>
                  <Table.Td data-testid="registrations">{typeof a.registrations === 'number' ? a.registrations : 'unknown'}</Table.Td>
                  <Table.Td>{formatTime(a.createdAt)}</Table.Td>
                </Table.Tr>
              ))}
            </ListTable>
          )}
        </AsyncList>
      </Section>
    </Stack>
  );
}

function Statistics({ projectId }: { projectId: string }) {
  const c = useConsole();
  const initial = lastDays(new Date(), 7);
  const [from, setFrom] = useState(initial.from);
  const [to, setTo] = useState(initial.to);
  const [range, setRange] = useState(initial);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [stats, reload] = useAsync(
    () => c.api.get<ProjectStatsV1>(`projects/${encodeURIComponent(projectId)}/stats`, { from: range.from, to: range.to }),
    [c.api, projectId, range.from, range.to],
  );
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const problems = checkDayRange(from, to);
    setErrors(problems);
    if (Object.keys(problems).length === 0) {
      if (range.from === from && range.to === to) reload();
      else setRange({ from, to });
    }
  };
  const days: Async<ProjectStatsV1['days']> = stats.state === 'ok' ? { state: 'ok', data: stats.data.days } : stats;
  return (
    <Stack>
      <Paper withBorder p="md">
        <form onSubmit={onSubmit} noValidate aria-label="Date range">
          <Group align="flex-start">
            <TextInput type="date" label="From (UTC day)" value={from} onChange={(e) => setFrom(e.currentTarget.value)} error={errors['from']} />
            <TextInput type="date" label="To (UTC day)" value={to} onChange={(e) => setTo(e.currentTarget.value)} error={errors['to']} />
            <Button type="submit" mt={25}>
              Show
            </Button>
          </Group>
        </form>
      </Paper>
      <Section title="Daily messages">
        <AsyncList value={days} label="statistics" reload={reload} empty="No days in this range.">
          {(items) => {
            const sum = totals(items);
            return (
              <Stack>
                <StatsChart days={items} />
                <div className="table-scroll">
                  <Table striped aria-label="Daily statistics" data-testid="stats-table">
                    <Table.Thead>
                      <Table.Tr>
                        <Table.Th scope="col">Day (UTC)</Table.Th>
                        {STAT_SERIES.map((s) => (
                          <Table.Th scope="col" key={s}>
                            {s}
                          </Table.Th>
                        ))}
                      </Table.Tr>
                    </Table.Thead>
                    <Table.Tbody>
                      {items.map((d) => (
                        <Table.Tr key={d.date} data-date={d.date}>
                          <Table.Th scope="row">{d.date}</Table.Th>
                          {STAT_SERIES.map((s) => (
                            <Table.Td key={s} data-series={s}>
                              {d[s]}
                            </Table.Td>
                          ))}
                        </Table.Tr>
                      ))}
                      <Table.Tr>
                        <Table.Th scope="row">Total</Table.Th>
                        {STAT_SERIES.map((s) => (
                          <Table.Td key={s} fw={700}>
                            {sum[s]}
                          </Table.Td>
                        ))}
                      </Table.Tr>
                    </Table.Tbody>
                  </Table>
                </div>
              </Stack>
            );
          }}
        </AsyncList>
      </Section>
    </Stack>
  );
}

const LISTABLE_STATES = ['stored', 'sent', 'delivered', 'expired', 'failed', 'cancelled'];

function Messages({ projectId }: { projectId: string }) {
  const c = useConsole();
  const base = `projects/${encodeURIComponent(projectId)}/messages`;
  const [state, setState] = useState('');
  const [extra, setExtra] = useState<MessageSummaryV1[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [first, reload] = useAsync(async () => {
    const page = await c.api.get<MessageListV1>(base, { limit: 20, state });
    setExtra([]);
    setCursor(page.nextCursor);
    return page.messages;
  }, [c.api, projectId, state]);
  const more = useSubmit(async () => {
    if (!cursor) return;
    const page = await c.api.get<MessageListV1>(base, { limit: 20, state, cursor });
    setExtra((e) => [...e, ...page.messages]);
    setCursor(page.nextCursor);
  });
  const [lookup, setLookup] = useState('');
  const [lookupError, setLookupError] = useState<string | null>(null);
  const onLookup = (event: FormEvent) => {
    event.preventDefault();
    const id = lookup.trim();
    setLookupError(id ? null : 'Enter a message id.');
    if (id) c.navigate({ name: 'message', projectId, messageId: id });
  };
  const value: Async<MessageSummaryV1[]> = first.state === 'ok' ? { state: 'ok', data: [...first.data, ...extra] } : first;
  return (
    <Stack>
      <Section title="Look up a message">
        <form onSubmit={onLookup} noValidate aria-label="Look up a message" role="search">
          <Group align="flex-start">
            <TextInput label="Message id" value={lookup} onChange={(e) => setLookup(e.currentTarget.value)} error={lookupError} w={420} />
            <Button type="submit" mt={25}>
              Look up
            </Button>
          </Group>
        </form>
      </Section>
      <Section
        title="Recent messages"
        align="flex-end"
        actions={
          <Group align="flex-end">
            <NativeSelect label="State" value={state} onChange={(e) => setState(e.currentTarget.value)} data={[{ value: '', label: 'any state' }, ...LISTABLE_STATES]} />
            <Button variant="default" onClick={reload}>
              Refresh
            </Button>
          </Group>
        }
      >
        <AsyncList value={value} label="messages" reload={reload} empty={cursor ? 'None on this page: load more.' : 'No messages.'}>
          {(items) => (
            <ListTable label="Recent messages" columns={['Message id', 'State', 'Target', 'Accepted']}>
              {items.map((m) => (
                <Table.Tr key={m.id}>
                  <Table.Td className="mono">
                    <Link to={{ name: 'message', projectId, messageId: m.id }}>{m.id}</Link>
                  </Table.Td>
                  <Table.Td>
                    <Badge color={stateColor(m.state)}>{m.state}</Badge>
                  </Table.Td>
                  <Table.Td>
                    {m.target.type} <span className="mono">{m.target.value}</span>
                  </Table.Td>
                  <Table.Td>{formatTime(m.createdAt)}</Table.Td>
                </Table.Tr>
              ))}
            </ListTable>
          )}
        </AsyncList>
        {cursor && (
          <Button mt="sm" variant="light" onClick={() => void more.run()} loading={more.pending}>
            Load more
          </Button>
        )}
        <ProblemAlert error={more.error} />
      </Section>
    </Stack>
  );
}

const POLL_MS = 1000;
const POLL_LIMIT_MS = 120_000;

/** Reads a message's status every second until it stops changing (a final state) or two minutes pass. */
export function useMessagePolling(projectId: string, messageId: string | null, justSent = false): { status: MessageStatusV1 | null; error: unknown; polling: boolean } {
  const c = useConsole();
  const [status, setStatus] = useState<MessageStatusV1 | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [polling, setPolling] = useState(false);
  useEffect(() => {
    if (!messageId) return;
    let live = true;
    let timer: number | undefined;
    const started = Date.now();
    setStatus(null);
    setError(null);
    setPolling(true);
    const tick = async () => {
      try {
        const next = await c.api.get<MessageStatusV1>(`projects/${encodeURIComponent(projectId)}/messages/${encodeURIComponent(messageId)}`);
        if (!live) return;
        setStatus(next);
        setError(null);
        if (isFinalMessageState(next.state)) {
          setPolling(false);
          return;
        }
      } catch (e) {
        if (!live) return;
        // Just accepted, a message may not be stored yet (404 for a moment): keep polling a little.
        if (!(justSent && e instanceof ProblemError && e.status === 404 && Date.now() - started < 15_000)) {
          setError(e);
          setPolling(false);
          return;
        }
      }
      if (Date.now() - started > POLL_LIMIT_MS) {
        setPolling(false);
        return;
      }
      timer = window.setTimeout(() => void tick(), POLL_MS);
    };
    void tick();
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [c.api, projectId, messageId, justSent]);
  return { status, error, polling };
}

const TARGET_LABELS: Record<TargetType, string> = { device: 'Registration id', application: 'Application id', topic: 'Topic' };

function TestSend({ projectId, role }: { projectId: string; role: Role | null }) {
  const c = useConsole();
  const [form, setForm] = useState<SendForm>({ type: 'device', target: '', title: 'Hello', message: 'A test push from the console', data: '', ttl: '1h' });
  const [errors, setErrors] = useState<FieldErrors>({});
  const [messageId, setMessageId] = useState<string | null>(null);
  const send = useSubmit(async (body: unknown) => {
    const answer = await c.api.post<{ id: string }>(`projects/${encodeURIComponent(projectId)}/messages`, body);
    setMessageId(answer.id);
  });
  const { status, error, polling } = useMessagePolling(projectId, messageId, true);
  const set = (patch: Partial<SendForm>) => setForm((f) => ({ ...f, ...patch }));
  if (!atLeast(role, 'developer')) return <RoleNote role={role} needed="developer" what="send pushes" />;
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const built = buildSendBody(form);
    setErrors(built.ok ? {} : built.errors);
    if (built.ok) {
      setMessageId(null);
      void send.run(built.body);
    }
  };
  return (
    <Stack>
      <Section title="Send a test push">
        <form onSubmit={onSubmit} noValidate aria-label="Send a test push">
          <Stack>
            <div>
              <Text size="sm" fw={500} id="send-type-label" mb={4}>
                Send to
              </Text>
              <SegmentedControl
                aria-labelledby="send-type-label"
                value={form.type}
                onChange={(value) => set({ type: value as TargetType })}
                data={[
                  { value: 'device', label: 'A registration' },
                  { value: 'application', label: 'An application' },
                  { value: 'topic', label: 'A topic' },
                ]}
              />
            </div>
            <TextInput label={TARGET_LABELS[form.type]} value={form.target} onChange={(e) => set({ target: e.currentTarget.value })} error={errors['target']} required />
            <TextInput label="Title" value={form.title} onChange={(e) => set({ title: e.currentTarget.value })} error={errors['title']} />
            <TextInput label="Message" value={form.message} onChange={(e) => set({ message: e.currentTarget.value })} error={errors['message']} />
            <JsonInput
              label="Data (a JSON object, optional)"
              description="Delivered to the app as JSON text; at most 4,096 bytes."
              placeholder='{"order": 42}'
              validationError="Not valid JSON"
              formatOnBlur
              autosize
              minRows={3}
              value={form.data}
              onChange={(value) => set({ data: value })}
              error={errors['data']}
            />
            <TextInput label="Time to live" description="Like 1h, 5h30m or 90s; empty for the maximum, 28 days." value={form.ttl} onChange={(e) => set({ ttl: e.currentTarget.value })} error={errors['ttl']} />
            <ProblemAlert error={send.error} title="The push was refused" />
            <Group>
              <Button type="submit" loading={send.pending}>
                Send push
              </Button>
            </Group>
          </Stack>
        </form>
      </Section>
      {messageId && (
        <Section
          title={
            <>
              Message <span className="mono">{messageId}</span>
            </>
          }
          aria-live="polite"
          data-testid="send-result"
        >
          {status ? <MessageStatusView status={status} /> : <Text size="sm">Accepted; waiting for its status…</Text>}
          {polling && (
            <Text size="xs" c="dimmed" mt="xs">
              Updating every second until it is delivered, expired, failed or cancelled.
            </Text>
          )}
          <ProblemAlert error={error} title="Could not read the status" />
          <Text size="sm" mt="sm">
            <Link to={{ name: 'message', projectId, messageId }}>Open the message</Link>
          </Text>
        </Section>
      )}
    </Stack>
  );
}
