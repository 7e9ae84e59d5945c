/**
 * Looks for a key's plaintext anywhere in the database: every cell of every
 * table (text, bytes, and anything else as its text form), in the encodings
 * a careless write would leave. Works on SQLite and PostgreSQL alike.
 */
import type { Db } from '../../src/db/database.ts';

export interface Leak {
  readonly table: string;
  readonly column: string;
}

/**
 * The names of the tables in the database, by name: SQLite's `sqlite_master`,
 * or PostgreSQL's `pg_tables` for the schema the connection uses.
 */
export async function tableNames(db: Db): Promise<string[]> {
  const rows =
    db.engine === 'postgres'
      ? await db.raw<{ name: string }>('SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename')
      : await db.raw<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  return rows.map((r) => r.name);
}

/** The text a cell holds as the scan reads it: strings as they are, bytes as Latin-1 and hex, other values (numbers, JSON) in their text form. */
function textOf(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return `${value.toString('latin1')}\n${value.toString('hex')}`;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Every cell that holds `plaintext` (as text, its hex body, base64 or hex of its bytes), table by table in name order. */
export async function findPlaintext(db: Db, plaintext: string): Promise<Leak[]> {
  const needles = [
    plaintext,
    plaintext.slice(3), // the 32 hex without the jj_ prefix
    Buffer.from(plaintext).toString('base64'),
    Buffer.from(plaintext).toString('base64url'),
    Buffer.from(plaintext).toString('hex'),
  ];
  const leaks: Leak[] = [];
  for (const name of await tableNames(db)) {
    const rows = await db.raw(`SELECT * FROM "${name}"`);
    for (const row of rows) {
      for (const [column, value] of Object.entries(row)) {
        const text = textOf(value);
        if (text !== null && needles.some((n) => text.includes(n))) leaks.push({ table: name, column });
      }
    }
  }
  return leaks;
}

/** How many tables the scan covers, so a test can show it looked at more than nothing. */
export async function tableCount(db: Db): Promise<number> {
  return (await tableNames(db)).length;
}
