import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { ClientBase, QueryResultRow } from 'pg';
import { DataSource, type QueryRunner } from 'typeorm';

/** The name of push-core's TypeORM connection (several services may share one process). */
export const PUSH_CORE_CONNECTION = 'push-core';

/**
 * Runs one parameterized statement and returns its rows (also for UPDATE/DELETE ... RETURNING).
 * Inside a transaction `afterCommit` queues work for once the transaction committed (metrics that
 * must not count a rolled-back or retried attempt); outside one it runs the work at once.
 * `inTransaction` is false where each statement commits on its own.
 */
export type Sql = (<T = Record<string, unknown>>(text: string, params?: readonly unknown[]) => Promise<T[]>) & {
  afterCommit(work: () => void): void;
  readonly inTransaction: boolean;
};

/** A statement's text and parameters, for a repository that runs another's statement as part of its own. */
export interface Statement {
  text: string;
  params: readonly unknown[];
}

/**
 * The Push DB. Repositories take an `Sql` so that a use case decides what runs in one transaction.
 * TypeORM here is the connection pool and migration runner; statements are hand-written SQL
 * because most of them are set-based (unnest, ON CONFLICT, UPDATE ... WHERE state = ANY).
 */
@Injectable()
export class PushDb {
  constructor(@InjectDataSource(PUSH_CORE_CONNECTION) private readonly dataSource: DataSource) {}

  /** One statement, outside any transaction. */
  readonly sql: Sql = Object.assign(
    async <T>(text: string, params?: readonly unknown[]): Promise<T[]> => {
      const runner = this.dataSource.createQueryRunner();
      try {
        return await rows(runner)<T>(text, params);
      } finally {
        await runner.release();
      }
    },
    { afterCommit: (work: () => void) => work(), inTransaction: false },
  );

  async transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    try {
      return await inTransaction(runner, work);
    } finally {
      await runner.release();
    }
  }

  /**
   * One connection for a whole piece of work: its statements and transactions all run on it, so
   * that session state (an advisory lock) lives exactly as long as the work, or the process.
   */
  async session<T>(work: (session: Session) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    try {
      return await work({ sql: rows(runner), transaction: (inner) => inTransaction(runner, inner) });
    } finally {
      await runner.release();
    }
  }
}

export interface Session {
  sql: Sql;
  transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T>;
}

async function inTransaction<T>(runner: QueryRunner, work: (sql: Sql) => Promise<T>): Promise<T> {
  try {
    await runner.startTransaction();
    const committed: (() => void)[] = [];
    const result = await work(rows(runner, (done) => committed.push(done)));
    await runner.commitTransaction();
    for (const done of committed) done();
    return result;
  } catch (err) {
    if (runner.isTransactionActive) await runner.rollbackTransaction();
    throw err;
  }
}

/** The most statement texts given a name; beyond, a statement is parsed at every call as before. */
const MAX_NAMED_STATEMENTS = 256;
const statementNames = new Map<string, string>();

/**
 * A name for a parameterized statement's text, the same on every connection: pg prepares it once
 * per connection (Parse), and later calls only bind and execute it, so PostgreSQL neither parses
 * nor analyzes it again, and plans it per its plan cache (docs/benchmarks.md, "Cost per push").
 * Statements without parameters stay unnamed (the simple protocol, which allows several statements).
 */
function statementName(text: string): string | undefined {
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < MAX_NAMED_STATEMENTS) statementNames.set(text, (name = `push_core_${statementNames.size}`));
  return name;
}

/**
 * Statements go to the runner's pg client directly: TypeORM's query path (its subscribers'
 * broadcasts, timing and result wrapping) cost more than the call itself on push-core's hot path;
 * transactions still start and end through the runner, on the same connection.
 */
function rows(runner: QueryRunner, afterCommit?: (work: () => void) => void): Sql {
  const sql = async <T>(text: string, params?: readonly unknown[]) => {
    const client = (await runner.connect()) as ClientBase;
    const name = params === undefined ? undefined : statementName(text);
    const result = await client.query<T & QueryResultRow>(name === undefined ? { text, values: params ? [...params] : undefined } : { name, text, values: [...params!] });
    return result.rows as T[];
  };
  return Object.assign(sql, { afterCommit: afterCommit ?? ((work: () => void) => work()), inTransaction: afterCommit !== undefined });
}
