import { sql, type Kysely } from 'kysely';
import { engineOf, types } from './engine.ts';

// Two-person rule and escalation (issue 13). A project sets how many distinct
// people must approve (`approvals_required`, 1-5) and after how long a pending
// request is escalated (`escalate_after_seconds`, null: never). Each request
// keeps the quorum it was created with, so lowering the setting never decides
// requests already pending by one press. `escalated_at` is set once, in the
// transaction that schedules the escalation's messages: it runs once, also on
// two replicas and after a restart. `owners_told_at` marks an expired request
// whose Owners were told in a grouped notice.
//
// `approval_votes`: one row per (request, person) who approved, written in the
// decision transaction; the primary key makes a second press by the same
// person count once. `position` keeps the order of the votes. `as_admin`: the vote was cast as one of
// JAMJET_ADMIN_USERS (who hold no membership row). On PostgreSQL it gets
// migration 010's change-notice trigger like every table read in requests.
export async function up(db: Kysely<any>): Promise<void> {
  const t = types(db);
  await db.schema
    .alterTable('projects')
    .addColumn('approvals_required', t.integer, (c) => c.notNull().defaultTo(1).check(sql`approvals_required BETWEEN 1 AND 5`))
    .execute();
  await db.schema.alterTable('projects').addColumn('escalate_after_seconds', t.integer).execute();
  await db.schema
    .alterTable('approvals')
    .addColumn('approvals_required', t.integer, (c) => c.notNull().defaultTo(1).check(sql`approvals_required BETWEEN 1 AND 5`))
    .execute();
  await db.schema.alterTable('approvals').addColumn('escalated_at', t.integer).execute();
  await db.schema.alterTable('approvals').addColumn('owners_told_at', t.integer).execute();
  // Requests that expired before this version are history, not news: the first grouped notice after the upgrade must not list them all.
  await sql`UPDATE approvals SET owners_told_at = COALESCE(decided_at, expires_at) WHERE status = 'expired'`.execute(db);
  await db.schema
    .createTable('approval_votes')
    .addColumn('approval_id', 'text', (c) => c.notNull().references('approvals.id'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('as_admin', t.integer, (c) => c.notNull().defaultTo(0))
    .addColumn('voted_at', t.integer, (c) => c.notNull())
    // 1 for the request's first vote, then 2, ...: the order people approved in, also within one millisecond.
    .addColumn('position', t.integer, (c) => c.notNull())
    .addPrimaryKeyConstraint('approval_votes_pk', ['approval_id', 'user_id'])
    .execute();
  if (engineOf(db) === 'postgres') {
    await sql`CREATE TRIGGER approval_votes_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON approval_votes
      FOR EACH STATEMENT EXECUTE FUNCTION jamjet_announce_change()`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('approval_votes').execute();
  await db.schema.alterTable('approvals').dropColumn('owners_told_at').execute();
  await db.schema.alterTable('approvals').dropColumn('escalated_at').execute();
  await db.schema.alterTable('approvals').dropColumn('approvals_required').execute();
  await db.schema.alterTable('projects').dropColumn('escalate_after_seconds').execute();
  await db.schema.alterTable('projects').dropColumn('approvals_required').execute();
}
