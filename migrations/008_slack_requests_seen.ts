import { sql, type Kysely } from 'kysely';
import { engineOf, types } from './engine.ts';

// Signatures of the signed Slack requests already accepted, kept for the
// signing window, so that a copy of one is refused by every process on this
// database. The primary key makes recording one an insert-or-refuse.
export async function up(db: Kysely<any>): Promise<void> {
  const table = db.schema
    .createTable('slack_requests_seen')
    .addColumn('signature', 'text', (c) => c.primaryKey())
    .addColumn('expires_at', types(db).integer, (c) => c.notNull());
  // WITHOUT ROWID is SQLite's; PostgreSQL has no rowid to leave out.
  await (engineOf(db) === 'postgres' ? table : table.modifyEnd(sql`WITHOUT ROWID`)).execute();
  await sql`CREATE INDEX slack_requests_seen_expiry ON slack_requests_seen(expires_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('slack_requests_seen').execute();
}
