import { sql, type Kysely } from 'kysely';
import { autoId, engineOf, types } from './engine.ts';

export async function up(db: Kysely<any>): Promise<void> {
  const t = types(db);
  await db.schema
    .createTable('projects')
    .addColumn('id', ...autoId(db))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('environment', 'text')
    .addColumn('approvals_channel', 'text')
    .addColumn('approval_timeout_seconds', t.integer, (c) => c.notNull().defaultTo(3600))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', t.integer, (c) => c.notNull())
    .addColumn('deleted_at', t.integer)
    .addColumn('deleted_by', 'text')
    .execute();
  // A deleted project keeps its row (and audit trail) but frees its name.
  await sql`CREATE UNIQUE INDEX projects_live_name ON projects(name) WHERE deleted_at IS NULL`.execute(db);

  await db.schema
    .createTable('memberships')
    .addColumn('project_id', t.integer, (c) => c.notNull().references('projects.id'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role IN ('owner', 'admin', 'member', 'read_only')`))
    .addColumn('added_by', 'text', (c) => c.notNull())
    .addColumn('created_at', t.integer, (c) => c.notNull())
    .addPrimaryKeyConstraint('memberships_pk', ['project_id', 'user_id'])
    .execute();
  await db.schema.createIndex('memberships_user').on('memberships').column('user_id').execute();

  await db.schema
    .createTable('pending_invites')
    .addColumn('id', ...autoId(db))
    .addColumn('project_id', t.integer, (c) => c.notNull().references('projects.id'))
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role IN ('owner', 'admin', 'member', 'read_only')`))
    .addColumn('invited_by', 'text', (c) => c.notNull())
    .addColumn('created_at', t.integer, (c) => c.notNull())
    .addUniqueConstraint('pending_invites_project_email', ['project_id', 'email'])
    .execute();
  await db.schema.createIndex('pending_invites_email').on('pending_invites').column('email').execute();

  await db.schema
    .createTable('audit_events')
    .addColumn('id', ...autoId(db))
    .addColumn('project_id', t.integer, (c) => c.references('projects.id'))
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('details', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('created_at', t.integer, (c) => c.notNull())
    .addColumn('prev_hash', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull().unique())
    .execute();
  await db.schema.createIndex('audit_events_project').on('audit_events').columns(['project_id', 'id']).execute();
  // Append-only: the database itself refuses to change or drop an event.
  if (engineOf(db) === 'postgres') {
    await sql`CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$`.execute(db);
    await sql`CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
      FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()`.execute(db);
    await sql`CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
      FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()`.execute(db);
    // TRUNCATE skips row triggers on PostgreSQL (SQLite has no TRUNCATE).
    await sql`CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
      FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()`.execute(db);
    return;
  }
  await sql`CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END`.execute(db);
  await sql`CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('audit_events').execute();
  await db.schema.dropTable('pending_invites').execute();
  await db.schema.dropTable('memberships').execute();
  await db.schema.dropTable('projects').execute();
  if (engineOf(db) === 'postgres') await sql`DROP FUNCTION audit_events_append_only()`.execute(db);
}
