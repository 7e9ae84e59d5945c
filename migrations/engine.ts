import { PostgresAdapter, SqliteAdapter, type ColumnDefinitionBuilder, type Kysely } from 'kysely';

/**
 * The engines the migrations are written for. SQLite is the embedded default
 * and every migration's effect on it is fixed (installed databases have them
 * applied); PostgreSQL gets the same tables, indexes and guards in its own SQL.
 */
export type Engine = 'sqlite' | 'postgres';

/**
 * Which engine `db` (a Kysely instance or the migrator's transaction) talks
 * to, told from its dialect's adapter. Throws for any other dialect, so that a
 * migration never silently writes one engine's SQL to another.
 */
export function engineOf(db: Kysely<any>): Engine {
  const adapter = db.getExecutor().adapter;
  if (adapter instanceof PostgresAdapter) return 'postgres';
  if (adapter instanceof SqliteAdapter) return 'sqlite';
  throw new Error(`Migrations support SQLite and PostgreSQL, not ${adapter.constructor.name}.`);
}

/**
 * The column types whose names differ between the engines. `integer` holds
 * epoch milliseconds (and ids) in this schema: SQLite's INTEGER is 64-bit,
 * PostgreSQL's is 32-bit, so PostgreSQL uses BIGINT (which `pg` reads as a
 * string unless told otherwise). Bytes are BLOB on SQLite, BYTEA on PostgreSQL.
 * `float` is an 8-byte IEEE float on both: SQLite's REAL, PostgreSQL's
 * DOUBLE PRECISION (its REAL has 4 bytes).
 */
export function types(db: Kysely<any>) {
  return engineOf(db) === 'postgres'
    ? ({ integer: 'bigint', blob: 'bytea', float: 'double precision' } as const)
    : ({ integer: 'integer', blob: 'blob', float: 'real' } as const);
}

/**
 * An `id` column numbered by the database: `integer primary key autoincrement`
 * on SQLite (ids never reused), `bigserial primary key` on PostgreSQL.
 * Use as `.addColumn('id', ...autoId(db))`.
 */
export function autoId(db: Kysely<any>): ['integer' | 'bigserial', (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder] {
  return engineOf(db) === 'postgres' ? ['bigserial', (c) => c.primaryKey()] : ['integer', (c) => c.primaryKey().autoIncrement()];
}

/** The channel every committed change is announced on; the PostgreSQL engine (src/db/postgres.ts) LISTENs to it. */
export const CHANGES_CHANNEL = 'jamjet_changes';

/** Tables written on every request and read by no cached value (src/db/database.ts, UNCACHED_TABLES). */
const UNANNOUNCED = new Set(['slack_requests_seen', 'api_rate_buckets', 'slack_slots', 'slack_slot_holds', 'policy_events']);

/**
 * Tables whose writes are not announced: Slack's seen requests, the SDK
 * API's rate buckets, the Slack post slots and the decisions SDKs report
 * (written on every request or post, read by no cached value) and Kysely's
 * migration records.
 */
export function announced(table: string): boolean {
  return !UNANNOUNCED.has(table) && !table.startsWith('kysely_migration');
}
