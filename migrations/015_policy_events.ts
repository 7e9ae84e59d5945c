import { sql, type Kysely } from 'kysely';
import { autoId, types } from './engine.ts';

// Decisions reported by the JamJet SDKs (`POST /v1/policy-audit/events`,
// src/services/policy-events.ts): one row per event, kept with the project
// and the key that sent it, with the SDK's wire fields as sent (strings
// bounded, `args` redacted value by value, as JSON text) and when the
// product received it (`received_at`, epoch ms). The newest
// LIMITS.policyEventsPerProject of each project are kept; the rows go when
// the project is deleted. `announce` is 1 for a decision announced in the
// approvals channel (BLOCKED, BUDGET_EXCEEDED); the announcement job that
// took it writes its id in `announce_job`, and `announced_at` once Slack
// took the message.
// Written on every SDK push and read by no cached value, so PostgreSQL does
// not announce its changes (no trigger of migration 010) and SQLite's engine
// writes it with `runUncached`: a push leaves the key cache as it was.
export async function up(db: Kysely<any>): Promise<void> {
  const t = types(db);
  await db.schema
    .createTable('policy_events')
    .addColumn('id', ...autoId(db))
    .addColumn('project_id', t.integer, (c) => c.notNull().references('projects.id').onDelete('cascade'))
    .addColumn('key_id', t.integer, (c) => c.notNull().references('api_keys.id').onDelete('cascade'))
    .addColumn('ts', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text', (c) => c.notNull())
    .addColumn('adapter', 'text', (c) => c.notNull())
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('tool', 'text', (c) => c.notNull())
    .addColumn('decision', 'text', (c) => c.notNull())
    .addColumn('executed', t.integer, (c) => c.notNull())
    .addColumn('schema_version', t.integer, (c) => c.notNull())
    .addColumn('rule', 'text')
    .addColumn('rule_kind', 'text')
    .addColumn('trace_id', 'text')
    .addColumn('decision_id', 'text')
    .addColumn('server', 'text')
    .addColumn('policy_version', 'text')
    .addColumn('args', 'text')
    .addColumn('received_at', t.integer, (c) => c.notNull())
    .addColumn('announce', t.integer, (c) => c.notNull())
    .addColumn('announce_job', t.integer)
    .addColumn('announced_at', t.integer)
    .execute();
  // Listing a project's events newest first, and pruning its oldest.
  await db.schema.createIndex('policy_events_project').on('policy_events').columns(['project_id', 'id']).execute();
  // The decisions still to announce, per project: few at any time.
  await sql`CREATE INDEX policy_events_unannounced ON policy_events(project_id, announce_job) WHERE announce = 1 AND announced_at IS NULL`.execute(db);
  // Whether a project's announcement job is already waiting (one job per burst).
  await sql`CREATE INDEX jobs_pending_kind ON jobs(kind) WHERE status = 'pending'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX jobs_pending_kind`.execute(db);
  await db.schema.dropTable('policy_events').execute();
}
