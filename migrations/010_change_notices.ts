import { sql, type Kysely } from 'kysely';
import { announced, CHANGES_CHANNEL, engineOf } from './engine.ts';

/** The tables of the current schema, as PostgreSQL's catalog lists them. */
async function tables(db: Kysely<any>): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`.execute(db);
  return rows.map((r) => r.name).filter(announced);
}

// PostgreSQL only: replicas remember what the database says (Db.cached) and
// must forget it when anyone changes it, through any replica or by hand. A
// statement-level trigger on every table sends one NOTIFY; PostgreSQL folds
// identical notifications of one transaction into one and delivers it at
// commit (never for a rollback). SQLite's engine reads PRAGMA data_version
// instead, so there this migration does nothing. A table added by a later
// migration needs the same trigger (test/db/migrations-pg.test.ts checks).
export async function up(db: Kysely<any>): Promise<void> {
  if (engineOf(db) !== 'postgres') return;
  await sql`CREATE FUNCTION jamjet_announce_change() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    PERFORM pg_notify(${sql.lit(CHANGES_CHANNEL)}, '');
    RETURN NULL;
  END
  $$`.execute(db);
  for (const table of await tables(db)) {
    await sql`CREATE TRIGGER ${sql.id(`${table}_changes`)} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${sql.table(table)}
      FOR EACH STATEMENT EXECUTE FUNCTION jamjet_announce_change()`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  if (engineOf(db) !== 'postgres') return;
  for (const table of await tables(db)) await sql`DROP TRIGGER IF EXISTS ${sql.id(`${table}_changes`)} ON ${sql.table(table)}`.execute(db);
  await sql`DROP FUNCTION jamjet_announce_change()`.execute(db);
}
