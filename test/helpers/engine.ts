/**
 * Which database engine this test run exercises. The `postgres` project of
 * vitest.config.ts sets JAMJET_TEST_ENGINE=postgres and runs the service,
 * job, security and end-to-end suites again on the run's PostgreSQL server;
 * everything else runs on SQLite.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll } from 'vitest';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { databaseUrl, testDatabaseName, withAdmin } from './postgres.ts';

export type TestEngine = 'sqlite' | 'postgres';

export const TEST_ENGINE: TestEngine = process.env.JAMJET_TEST_ENGINE === 'postgres' ? 'postgres' : 'sqlite';

const MIGRATIONS = fileURLToPath(new URL('../../migrations/', import.meta.url));

/** Databases this test file created, dropped when it ends (FORCE: connections a test left open are closed). */
const created: string[] = [];
let hooked = false;

let template: Promise<string> | null = null;

/**
 * The name of a database with every migration applied, made once per server
 * for the current migrations (their names and contents are in its name), so
 * that each test copies it (`CREATE DATABASE ... TEMPLATE`) instead of
 * migrating from nothing. Built under a temporary name and renamed when
 * complete; test processes wait for each other on an advisory lock.
 */
function migratedTemplate(): Promise<string> {
  template ??= (async () => {
    const hash = createHash('sha256');
    for (const file of readdirSync(MIGRATIONS).sort()) hash.update(file).update(readFileSync(`${MIGRATIONS}${file}`));
    const name = `jamjet_template_${hash.digest('hex').slice(0, 16)}`;
    await withAdmin(async (c) => {
      await c.query('SELECT pg_advisory_lock(7021)');
      try {
        const exists = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
        if (exists.rowCount) return;
        const building = `${name}_building`;
        await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(building)} WITH (FORCE)`);
        await c.query(`CREATE DATABASE ${c.escapeIdentifier(building)}`);
        // eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run on an untyped schema
        const kysely = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: databaseUrl(building), max: 1 }) }) });
        try {
          await migrateToLatest(kysely);
        } finally {
          await kysely.destroy();
        }
        await c.query(`ALTER DATABASE ${c.escapeIdentifier(building)} RENAME TO ${c.escapeIdentifier(name)}`);
      } finally {
        await c.query('SELECT pg_advisory_unlock(7021)');
      }
    });
    return name;
  })();
  return template;
}

/**
 * A `DATABASE_URL` for a new, empty, migrated database of the engine under
 * test: `sqlite::memory:`, or a copy of the migrated template on the run's
 * PostgreSQL server, dropped when the test file ends.
 */
export async function freshDatabaseUrl(): Promise<string> {
  if (TEST_ENGINE === 'sqlite') return 'sqlite::memory:';
  const source = await migratedTemplate();
  const name = testDatabaseName();
  await withAdmin((c) => c.query(`CREATE DATABASE ${c.escapeIdentifier(name)} TEMPLATE ${c.escapeIdentifier(source)}`));
  created.push(name);
  if (!hooked) {
    hooked = true;
    afterAll(async () => {
      const names = created.splice(0);
      await withAdmin(async (c) => {
        for (const n of names) await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(n)} WITH (FORCE)`);
      });
    });
  }
  return databaseUrl(name);
}
