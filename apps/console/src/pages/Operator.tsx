import { Badge, Button, Code, Group, Paper, Stack, Table, Text } from '@mantine/core';
import { useState } from 'react';
import { AsyncList, PageTitle, ProblemAlert, useAsync, useSubmit, type Async } from '../components/common';
import { ListTable, Section } from '../components/layout';
import { useConsole } from '../context';
import { ProblemError, problemOf } from '../lib/api';
import { formatFigure, metricLabel } from '../lib/format';

interface Overview {
  services: { name: string; status: 'up' | 'down'; detail?: string }[];
  metrics: Record<string, number>;
}

interface Jwk {
  kid: string;
  alg?: string;
  kty: string;
}

/** The public JWKS: the keys access tokens are verified with (the current signing key and the previous one). */
async function loadJwks(): Promise<Jwk[]> {
  const response = await window.fetch('/auth/public/.well-known/jwks.json', { cache: 'no-store', headers: { accept: 'application/json' } });
  if (!response.ok) throw new ProblemError(await problemOf(response));
  return ((await response.json()) as { keys: Jwk[] }).keys;
}

/** The operator's view: service health, the key figures of /metrics, signing-key rotation. Tenants are on the home page. */
export function OperatorPage() {
  const c = useConsole();
  const [overview, reloadOverview] = useAsync(() => c.api.get<Overview>('operator/overview'), [c.api]);
  const [keys, reloadKeys] = useAsync(loadJwks, []);
  const [rotated, setRotated] = useState<string | null>(null);
  const rotate = useSubmit(async () => {
    const answer = await c.api.post<{ kid: string }>('signing-keys');
    setRotated(answer.kid);
    reloadKeys();
  });
  if (!c.isOperator) {
    return (
      <Stack>
        <PageTitle>Operator</PageTitle>
        <Text>This page is for the operator: sign out and sign in with the admin token.</Text>
      </Stack>
    );
  }
  const services: Async<Overview['services']> = overview.state === 'ok' ? { state: 'ok', data: overview.data.services } : overview;
  const metrics: Async<[string, number][]> = overview.state === 'ok' ? { state: 'ok', data: Object.entries(overview.data.metrics) } : overview;
  return (
    <Stack>
      <PageTitle
        actions={
          <Button variant="default" onClick={reloadOverview}>
            Refresh
          </Button>
        }
      >
        Operator
      </PageTitle>
      <Section title="Service health">
        <AsyncList value={services} label="service health" reload={reloadOverview} empty="No service reported.">
          {(items) => (
            <ListTable label="Service health" columns={['Service', 'Status', 'Detail']} striped={false} scroll={false}>
              {items.map((s) => (
                <Table.Tr key={s.name}>
                  <Table.Td>{s.name}</Table.Td>
                  <Table.Td>
                    <Badge color={s.status === 'up' ? 'green' : 'red'}>{s.status}</Badge>
                  </Table.Td>
                  <Table.Td>{s.detail ?? ''}</Table.Td>
                </Table.Tr>
              ))}
            </ListTable>
          )}
        </AsyncList>
      </Section>
      <Section title="Key figures (from /metrics)">
        <AsyncList value={metrics} label="metrics" reload={reloadOverview} empty="No figures.">
          {(items) => (
            <Group gap="lg" role="list" aria-label="Key figures">
              {items.map(([name, value]) => (
                <Paper withBorder p="sm" key={name} role="listitem" miw={180}>
                  <Text size="sm" c="dimmed" title={name}>
                    {metricLabel(name)}
                  </Text>
                  <Text className="figure">{formatFigure(value)}</Text>
                </Paper>
              ))}
            </Group>
          )}
        </AsyncList>
      </Section>
      <Section
        title="Access-token signing keys"
        actions={
          <Button color="orange" onClick={() => void rotate.run()} loading={rotate.pending}>
            Rotate the signing key
          </Button>
        }
      >
        <Text size="sm" c="dimmed" mb="sm">
          Rotating makes a new current key; the JWKS keeps serving the previous one, so tokens signed before stay valid until they expire. Rotate no more often than the
          token lifetime.
        </Text>
        {rotated && (
          <Text role="status" mb="sm">
            New current key: <Code data-testid="rotated-kid">{rotated}</Code>
          </Text>
        )}
        <ProblemAlert error={rotate.error} />
        <Text size="sm" mb="xs">
          The keys access tokens are verified with, from the public JWKS:
        </Text>
        <AsyncList value={keys} label="signing keys" reload={reloadKeys} empty="No signing key yet.">
          {(items) => (
            <ListTable label="Signing keys" columns={['Key id (in the JWKS)', 'Algorithm', 'Note']} striped={false} scroll={false}>
              {items.map((k) => (
                <Table.Tr key={k.kid}>
                  <Table.Td className="mono">{k.kid}</Table.Td>
                  <Table.Td>{k.alg ?? k.kty}</Table.Td>
                  <Table.Td>{k.kid === rotated ? <Badge color="green">new current key</Badge> : ''}</Table.Td>
                </Table.Tr>
              ))}
            </ListTable>
          )}
        </AsyncList>
      </Section>
    </Stack>
  );
}
