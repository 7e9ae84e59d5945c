import { randomBytes } from 'node:crypto';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { inject } from 'vitest';

/** A database of its own on the run's PostgreSQL server (see postgres-server.ts). */
export interface TestPostgres {
  /** postgres:// URL of the fresh, empty database. */
  url: string;
  /** Opens a Kysely on the database through a `pg` pool of `max` connections; closed by drop(). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests run migrations on an untyped schema
  kysely(max?: number): Kysely<any>;
  /** Closes every Kysely opened here and drops the database. */
  drop(): Promise<void>;
}

/**
 * Runs `run` on one connection to the run's PostgreSQL server as its admin
 * (to `database` when given, else the admin URL's own), closed afterwards.
 */
export async function withAdmin<T>(run: (client: pg.Client) => Promise<T>, database?: string): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl(database) });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** The admin URL of the run's server pointed at `database` (unchanged when none is given). */
export function databaseUrl(database?: string): string {
  const url = new URL(inject('postgresAdminUrl'));
  if (database) url.pathname = `/${database}`;
  return url.toString();
}

/** PostgreSQL's SQLSTATE for a connection ended by the server (`terminating connection due to administrator command`). */
const ADMIN_SHUTDOWN = '57P01';

/** A fresh database name: `jamjet_test_` and 12 random hex characters. */
export function testDatabaseName(): string {
  return `jamjet_test_${randomBytes(6).toString('hex')}`;
}

/**
 * Creates an empty database, named `jamjet_test_` and 12 random hex
 * characters, on the server the run started (or TEST_DATABASE_URL's), for one
 * test file or one test. Throws the server's error when it cannot be created.
 */
export async function freshPostgres(): Promise<TestPostgres> {
  const name = testDatabaseName();
  await withAdmin((c) => c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`));
  const url = databaseUrl(name);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  const opened: Kysely<any>[] = [];
  return {
    url,
    kysely(max = 4) {
      const pool = new pg.Pool({ connectionString: url, max });
      // pool.end() resolves before its last connections have closed, so drop()'s
      // DROP ... WITH (FORCE) may end one from the server side (57P01): expected
      // then; anything else is the test's to see.
      pool.on('error', (error: Error & { code?: string }) => {
        if (error.code !== ADMIN_SHUTDOWN) throw error;
      });
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
      const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
      opened.push(db);
      return db;
    },
    async drop() {
      await Promise.all(opened.splice(0).map((db) => db.destroy()));
      await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`));
    },
  };
}
