import { sql, type Kysely } from 'kysely';
import { autoId, types } from './engine.ts';

export async function up(db: Kysely<any>): Promise<void> {
  const t = types(db);
  // API keys are stored only as a SHA-256 hash, with a short display form.
  await db.schema
    .createTable('api_keys')
    .addColumn('id', ...autoId(db))
    .addColumn('public_id', 'text', (c) => c.notNull().unique())
    .addColumn('project_id', t.integer, (c) => c.notNull().references('projects.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull().unique())
    .addColumn('display', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', t.integer, (c) => c.notNull())
    .addColumn('last_used_at', t.integer)
    .addColumn('revoked_at', t.integer)
    .addColumn('revoked_by', 'text')
    .execute();
  await db.schema.createIndex('api_keys_project').on('api_keys').columns(['project_id', 'revoked_at']).execute();

  // One-time delivery: the key encrypted under a random key that lives only
  // in the Slack button; the ciphertext is wiped once it is no longer needed.
  await db.schema
    .createTable('key_deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('key_id', t.integer, (c) => c.notNull().references('api_keys.id'))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('ciphertext', t.blob)
    .addColumn('created_at', t.integer, (c) => c.notNull())
    .addColumn('reveal_until', t.integer, (c) => c.notNull())
    .addColumn('revealing_at', t.integer)
    .addColumn('revealed_at', t.integer)
    .addColumn('expired_at', t.integer)
    .addColumn('dm_channel', 'text')
    .addColumn('dm_ts', 'text')
    .execute();

  await db.schema
    .createTable('github_targets')
    .addColumn('id', ...autoId(db))
    .addColumn('project_id', t.integer, (c) => c.notNull().references('projects.id'))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind IN ('repo', 'environment', 'org')`))
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('repo', 'text')
    .addColumn('environment', 'text')
    .addColumn('visibility', 'text')
    .addColumn('secret_name', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', t.integer, (c) => c.notNull())
    .addColumn('removed_at', t.integer)
    .execute();
  await sql`CREATE UNIQUE INDEX github_targets_live ON github_targets
    (project_id, kind, owner, coalesce(repo, ''), coalesce(environment, ''), secret_name) WHERE removed_at IS NULL`.execute(db);

  await db.schema
    .createTable('rotations')
    .addColumn('id', ...autoId(db))
    .addColumn('project_id', t.integer, (c) => c.notNull().references('projects.id'))
    .addColumn('old_key_id', t.integer, (c) => c.notNull().references('api_keys.id'))
    .addColumn('new_key_id', t.integer, (c) => c.notNull().references('api_keys.id'))
    .addColumn('delivery_id', 'text', (c) => c.notNull().references('key_deliveries.id'))
    .addColumn('requested_by', 'text', (c) => c.notNull())
    .addColumn('overlap_seconds', t.integer, (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state IN ('overlap', 'revoked', 'kept')`))
    .addColumn('created_at', t.integer, (c) => c.notNull())
    .addColumn('remind_at', t.integer)
    .addColumn('reminded_at', t.integer)
    .addColumn('reminder_channel', 'text')
    .addColumn('reminder_ts', 'text')
    .addColumn('finished_at', t.integer)
    .addColumn('finished_by', 'text')
    .execute();
  // One rotation per project at a time.
  await sql`CREATE UNIQUE INDEX rotations_one_open ON rotations(project_id) WHERE state = 'overlap'`.execute(db);

  await db.schema
    .createTable('rotation_targets')
    .addColumn('rotation_id', t.integer, (c) => c.notNull().references('rotations.id'))
    .addColumn('target_id', t.integer, (c) => c.notNull().references('github_targets.id'))
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status IN ('pending', 'written', 'failed')`))
    .addColumn('message', 'text')
    .addColumn('attempts', t.integer, (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', t.integer, (c) => c.notNull())
    .addPrimaryKeyConstraint('rotation_targets_pk', ['rotation_id', 'target_id'])
    .execute();

  // Durable jobs: reminders, expiries and Slack posts to retry.
  await db.schema
    .createTable('jobs')
    .addColumn('id', ...autoId(db))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('run_at', t.integer, (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status IN ('pending', 'running', 'done', 'dead')`))
    .addColumn('attempts', t.integer, (c) => c.notNull().defaultTo(0))
    .addColumn('locked_by', 'text')
    .addColumn('locked_until', t.integer)
    .addColumn('last_error', 'text')
    .addColumn('created_at', t.integer, (c) => c.notNull())
    .addColumn('finished_at', t.integer)
    .execute();
  // Claiming reads only due rows: cost follows due jobs, not the table's size.
  await sql`CREATE INDEX jobs_due ON jobs(run_at) WHERE status = 'pending'`.execute(db);
  await sql`CREATE INDEX jobs_leased ON jobs(locked_until) WHERE status = 'running'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['jobs', 'rotation_targets', 'rotations', 'github_targets', 'key_deliveries', 'api_keys']) {
    await db.schema.dropTable(table).execute();
  }
}
