import { sql, type Kysely } from 'kysely';

// The database itself refuses an event that does not continue the chain, or
// that takes the place of an earlier one. (An id left to SQLite reads as -1 here.)
export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events
    WHEN NEW.prev_hash IS NOT coalesce((SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1), '${sql.raw('0'.repeat(64))}')
      OR (NEW.id > 0 AND NEW.id <= coalesce((SELECT max(id) FROM audit_events), 0))
    BEGIN SELECT RAISE(ABORT, 'audit events must continue the chain'); END`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TRIGGER audit_events_chain`.execute(db);
}
