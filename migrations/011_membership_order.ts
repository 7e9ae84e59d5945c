import { sql, type Kysely } from 'kysely';
import { engineOf } from './engine.ts';

// PostgreSQL only: members are listed in the order they joined, and people
// added in the same millisecond in the order they were added. SQLite keeps
// that order in each row's rowid; PostgreSQL has no such thing, so its
// memberships get a sequence number (src/db/dialect.ts, insertionOrder).
export async function up(db: Kysely<any>): Promise<void> {
  if (engineOf(db) !== 'postgres') return;
  await sql`ALTER TABLE memberships ADD COLUMN seq bigserial`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (engineOf(db) !== 'postgres') return;
  await sql`ALTER TABLE memberships DROP COLUMN seq`.execute(db);
}
