import { sql, type Kysely } from 'kysely';
import { engineOf } from './engine.ts';

const GENESIS = '0'.repeat(64);

// The database itself refuses an event that does not continue the chain, or
// that takes the place of an earlier one. (An id left to SQLite reads as -1 here.)
export async function up(db: Kysely<any>): Promise<void> {
  if (engineOf(db) === 'postgres') {
    // PostgreSQL fills NEW.id from the sequence before the trigger runs. Two
    // transactions may each see the same last event; no two events may
    // continue the same one, so the second to commit is refused by the index.
    await sql`CREATE FUNCTION audit_events_chain() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        last_hash text;
        last_id bigint;
      BEGIN
        SELECT hash, id INTO last_hash, last_id FROM audit_events ORDER BY id DESC LIMIT 1;
        IF NEW.prev_hash IS DISTINCT FROM coalesce(last_hash, '${sql.raw(GENESIS)}')
          OR NEW.id <= coalesce(last_id, 0) THEN
          RAISE EXCEPTION 'audit events must continue the chain';
        END IF;
        RETURN NEW;
      END $$`.execute(db);
    await sql`CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events
      FOR EACH ROW EXECUTE FUNCTION audit_events_chain()`.execute(db);
    await sql`CREATE UNIQUE INDEX audit_events_one_successor ON audit_events(prev_hash)`.execute(db);
    return;
  }
  await sql`CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events
    WHEN NEW.prev_hash IS NOT coalesce((SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1), '${sql.raw(GENESIS)}')
      OR (NEW.id > 0 AND NEW.id <= coalesce((SELECT max(id) FROM audit_events), 0))
    BEGIN SELECT RAISE(ABORT, 'audit events must continue the chain'); END`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (engineOf(db) === 'postgres') {
    await sql`DROP INDEX audit_events_one_successor`.execute(db);
    await sql`DROP TRIGGER audit_events_chain ON audit_events`.execute(db);
    await sql`DROP FUNCTION audit_events_chain()`.execute(db);
    return;
  }
  await sql`DROP TRIGGER audit_events_chain`.execute(db);
}
