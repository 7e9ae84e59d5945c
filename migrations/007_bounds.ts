import { sql, type Kysely } from 'kysely';

// The bounds on what one person, project or key can create are counted on
// every request that creates something: these keep each count an index range.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX approvals_pending_key ON approvals(key_id) WHERE status = 'pending'`.execute(db);
  await db.schema.createIndex('pending_invites_project').on('pending_invites').column('project_id').execute();
  await sql`CREATE INDEX projects_live_creator ON projects(created_by) WHERE deleted_at IS NULL`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX projects_live_creator`.execute(db);
  await sql`DROP INDEX pending_invites_project`.execute(db);
  await sql`DROP INDEX approvals_pending_key`.execute(db);
}
