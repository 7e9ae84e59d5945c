import { sql, type Kysely } from 'kysely';
import { types } from './engine.ts';

export async function up(db: Kysely<any>): Promise<void> {
  const t = types(db);
  await db.schema
    .createTable('approvals')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project_id', t.integer, (c) => c.notNull().references('projects.id'))
    .addColumn('key_id', t.integer, (c) => c.notNull().references('api_keys.id'))
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('context', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status IN ('pending', 'approved', 'rejected', 'expired')`))
    .addColumn('reason', 'text')
    .addColumn('decided_by', 'text')
    .addColumn('decided_at', t.integer)
    .addColumn('created_at', t.integer, (c) => c.notNull())
    .addColumn('expires_at', t.integer, (c) => c.notNull())
    .execute();
  await sql`CREATE INDEX approvals_pending ON approvals(project_id, created_at) WHERE status = 'pending'`.execute(db);

  // Where each request's card was posted: the approvals channel, or each Owner's DM.
  await db.schema
    .createTable('approval_cards')
    .addColumn('approval_id', 'text', (c) => c.notNull().references('approvals.id'))
    // The channel id, or the Owner's user id for a DM; `channel` is where Slack put it.
    .addColumn('destination', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('ts', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('approval_cards_pk', ['approval_id', 'destination'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('approval_cards').execute();
  await db.schema.dropTable('approvals').execute();
}
