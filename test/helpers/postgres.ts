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

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject('postgresAdminUrl') });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates an empty database, named `jamjet_test_` and 12 random hex
 * characters, on the server the run started (or TEST_DATABASE_URL's), for one
 * test file or one test. Throws the server's error when it cannot be created.
 */
export async function freshPostgres(): Promise<TestPostgres> {
  const name = `jamjet_test_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`));
  const url = new URL(inject('postgresAdminUrl'));
  url.pathname = `/${name}`;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  const opened: Kysely<any>[] = [];
  return {
    url: url.toString(),
    kysely(max = 4) {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
      const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url.toString(), max }) }) });
      opened.push(db);
      return db;
    },
    async drop() {
      await Promise.all(opened.splice(0).map((db) => db.destroy()));
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`));
    },
  };
}
