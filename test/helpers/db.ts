import { openDb, SqliteDb, type Db } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { openPostgres } from '../../src/db/postgres.ts';
import { freshDatabaseUrl, TEST_ENGINE } from './engine.ts';
import { JobQueue } from '../../src/jobs/queue.ts';
import { createLogger } from '../../src/logger.ts';
import type { Actor, ServiceContext } from '../../src/services/context.ts';

/** A fresh SQLite database (in memory, or the file at `path`) with the real migrations applied. */
export async function testSqliteDb(path = ':memory:'): Promise<SqliteDb> {
  const db = openDb(path);
  await migrateToLatest(db.kysely);
  return db;
}

/**
 * A fresh database of the engine under test (test/helpers/engine.ts) with
 * the real migrations applied: SQLite in memory, or a new PostgreSQL
 * database opened with a small pool, as a replica would open it.
 */
export async function testDb(): Promise<Db> {
  if (TEST_ENGINE === 'sqlite') return testSqliteDb();
  const db = await openPostgres(await freshDatabaseUrl(), { poolSize: 4 });
  await migrateToLatest(db.kysely);
  return db;
}

/** A service context with a clock the test moves by hand. */
export async function testContext(start = Date.UTC(2026, 10, 28, 9, 0, 0)) {
  const db = await testDb();
  const clock = { now: start };
  const now = () => clock.now;
  const jobs = new JobQueue(db, now, createLogger('error', () => {}));
  const ctx: ServiceContext & { clock: typeof clock; queue: JobQueue; advance(ms: number): void } = {
    db,
    now,
    jobs,
    queue: jobs,
    clock,
    advance(ms: number) {
      clock.now += ms;
    },
  };
  return ctx;
}

export const user = (userId: string, isAdmin = false): Actor => ({ userId, isAdmin });

/** The SQLite connection under `db`, for tests that use what only SQLite has (temporary triggers, PRAGMAs, bulk seeding). */
export function sqliteOf(db: Db): SqliteDb['sqlite'] {
  if (!(db instanceof SqliteDb)) throw new Error(`this test needs SQLite, not ${db.engine}`);
  return db.sqlite;
}
