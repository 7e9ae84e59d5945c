/**
 * The few expressions whose SQL differs between the engines, so that use
 * cases build one query for both.
 */
import { sql, type Expression, type RawBuilder } from 'kysely';
import type { Db } from './database.ts';

/**
 * The text at `key` of the JSON object stored as text in `column` (an audit
 * event's `details`), or null when absent: SQLite's `json_extract`,
 * PostgreSQL's `->>` on the value read as jsonb. Numbers come back as text
 * on PostgreSQL and as numbers on SQLite: convert with `Number(...)`.
 */
export function jsonField(db: Db, column: 'details', key: string): RawBuilder<string | number | null> {
  if (!/^[a-z_]+$/.test(key)) throw new Error(`not a JSON key: ${key}`);
  return db.engine === 'postgres' ? sql`(${sql.ref(column)}::jsonb ->> ${sql.lit(key)})` : sql`json_extract(${sql.ref(column)}, ${sql.lit(`$.${key}`)})`;
}

/**
 * The order rows of `memberships` were inserted in: SQLite's `rowid`, the
 * `seq` column migration 011 gives PostgreSQL.
 */
export function insertionOrder(db: Db, table: 'memberships'): RawBuilder<number> {
  return db.engine === 'postgres' ? sql`${sql.ref(`${table}.seq`)}` : sql`${sql.ref(`${table}.rowid`)}`;
}

/**
 * The smaller of two numbers: SQLite's two-argument `min()` scalar,
 * PostgreSQL's `LEAST` (its `min` is only an aggregate). Give it no null:
 * SQLite answers null for one, PostgreSQL the other value.
 */
export function least(db: Db, a: Expression<number>, b: Expression<number>): RawBuilder<number> {
  return db.engine === 'postgres' ? sql<number>`least(${a}, ${b})` : sql<number>`min(${a}, ${b})`;
}

/**
 * The larger of two numbers: SQLite's two-argument `max()` scalar,
 * PostgreSQL's `GREATEST`. Give it no null (see `least`).
 */
export function greatest(db: Db, a: Expression<number>, b: Expression<number>): RawBuilder<number> {
  return db.engine === 'postgres' ? sql<number>`greatest(${a}, ${b})` : sql<number>`max(${a}, ${b})`;
}
