import { Button, Group, Paper, Table, TextInput, Title, type GroupProps, type PaperProps, type TableProps } from '@mantine/core';
import { useState, type FormEvent, type ReactNode } from 'react';
import { checkName } from '../lib/validate';
import { ProblemAlert, useSubmit } from './common';

/** A bordered card with a level-2 heading; `actions` stand at the heading's right. */
export function Section({
  title,
  actions,
  align,
  children,
  ...paper
}: { title: ReactNode; actions?: ReactNode; align?: GroupProps['align']; children: ReactNode } & PaperProps & Record<`data-${string}` | `aria-${string}`, unknown>) {
  return (
    <Paper withBorder p="md" {...paper}>
      {actions ? (
        <Group justify="space-between" mb="sm" align={align}>
          <Title order={2} size="h4">
            {title}
          </Title>
          {actions}
        </Group>
      ) : (
        <Title order={2} size="h4" mb="sm">
          {title}
        </Title>
      )}
      {children}
    </Paper>
  );
}

/** A table of rows under one header row of column names (a falsy name leaves its column out); it scrolls sideways on narrow screens unless `scroll` is false. */
export function ListTable({ label, columns, scroll = true, children, ...table }: { label: string; columns: (string | false)[]; scroll?: boolean; children: ReactNode } & TableProps) {
  const body = (
    <Table striped aria-label={label} {...table}>
      <Table.Thead>
        <Table.Tr>
          {columns.map(
            (name) =>
              name && (
                <Table.Th scope="col" key={name}>
                  {name}
                </Table.Th>
              ),
          )}
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>{children}</Table.Tbody>
    </Table>
  );
  return scroll ? <div className="table-scroll">{body}</div> : body;
}

/**
 * The form that creates something by its name (an organization, a project, an application): the
 * name is checked here, `create` runs with it trimmed; on success the field empties and `onCreated`
 * gets what `create` answered.
 */
export function CreateByNameForm<T>({
  formLabel,
  heading,
  inputLabel,
  buttonLabel,
  what,
  create,
  onCreated,
}: {
  /** The form's accessible name. */
  formLabel: string;
  /** A heading inside the form, when the card has none above it. */
  heading?: ReactNode;
  inputLabel: string;
  buttonLabel: string;
  /** The name's owner in a validation message, like "the project’s name". */
  what: string;
  create: (name: string) => Promise<T>;
  onCreated: (created: T) => void;
}) {
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = useSubmit(async (value: string) => {
    const created = await create(value);
    setName('');
    onCreated(created);
  });
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const problem = checkName(name, what);
    setError(problem);
    if (!problem) void submit.run(name.trim());
  };
  return (
    <form onSubmit={onSubmit} noValidate aria-label={formLabel}>
      {heading && (
        <Title order={2} size="h4" mb="sm">
          {heading}
        </Title>
      )}
      <Group align="flex-start">
        <TextInput label={inputLabel} value={name} onChange={(e) => setName(e.currentTarget.value)} error={error} required />
        <Button type="submit" mt={25} loading={submit.pending}>
          {buttonLabel}
        </Button>
      </Group>
      <ProblemAlert error={submit.error} />
    </form>
  );
}
