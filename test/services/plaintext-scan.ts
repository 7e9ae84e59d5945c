/**
 * Looks for a key's plaintext anywhere in the database: every text and blob
 * cell of every table, in the encodings a careless write would leave.
 */
import type { Db } from '../../src/db/database.ts';

export interface Leak {
  readonly table: string;
  readonly column: string;
}

/** Every cell that holds `plaintext` (as text, its hex body, base64 or hex of its bytes). */
export async function findPlaintext(db: Db, plaintext: string): Promise<Leak[]> {
  const needles = [
    plaintext,
    plaintext.slice(3), // the 32 hex without the jj_ prefix
    Buffer.from(plaintext).toString('base64'),
    Buffer.from(plaintext).toString('base64url'),
    Buffer.from(plaintext).toString('hex'),
  ];
  const tables = await db.raw("SELECT name FROM sqlite_master WHERE type = 'table'") as { name: string }[];
  const leaks: Leak[] = [];
  for (const { name } of tables) {
    const rows = await db.raw(`SELECT * FROM "${name}"`) as Record<string, unknown>[];
    for (const row of rows) {
      for (const [column, value] of Object.entries(row)) {
        let text: string | null = null;
        if (typeof value === 'string') text = value;
        else if (Buffer.isBuffer(value)) text = `${value.toString('latin1')}\n${value.toString('hex')}`;
        if (text !== null && needles.some((n) => text.includes(n))) leaks.push({ table: name, column });
      }
    }
  }
  return leaks;
}

/** How many tables the scan covers, so a test can show it looked at more than nothing. */
export async function tableCount(db: Db): Promise<number> {
  return ((await db.raw("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'"))[0] as { n: number }).n;
}
