import { sql, type Kysely } from 'kysely';
import { autoId, types } from './engine.ts';

// Linking a GitHub target needs a GitHub user's own word
// (docs/ARCHITECTURE.md, section 7): who is connected, the device flows under way, which targets are
// paused, and which secrets this bot wrote last.
export async function up(db: Kysely<any>): Promise<void> {
  const t = types(db);
  // One connected GitHub account per Slack user. The user token is kept only
  // sealed (AES-256-GCM under a key derived from a secret the operator holds,
  // not the database), so a copy of the file alone does not reveal it.
  await db.schema
    .createTable('github_connections')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('github_login', 'text', (c) => c.notNull())
    .addColumn('github_id', t.integer, (c) => c.notNull())
    .addColumn('token_sealed', t.blob, (c) => c.notNull())
    .addColumn('connected_at', t.integer, (c) => c.notNull())
    .execute();

  // A device flow waiting for the person to enter the code on GitHub. The
  // device code is sealed like a token: whoever holds it may collect the token.
  await db.schema
    .createTable('github_device_flows')
    .addColumn('id', ...autoId(db))
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('device_code_sealed', t.blob)
    .addColumn('user_code', 'text', (c) => c.notNull())
    .addColumn('verification_uri', 'text', (c) => c.notNull())
    .addColumn('interval_seconds', t.integer, (c) => c.notNull())
    .addColumn('expires_at', t.integer, (c) => c.notNull())
    .addColumn('created_at', t.integer, (c) => c.notNull())
    .addColumn('finished_at', t.integer)
    .addColumn('outcome', 'text')
    .execute();
  await sql`CREATE INDEX github_device_flows_open ON github_device_flows(user_id) WHERE finished_at IS NULL`.execute(db);

  // A target whose linker is no longer Admin or Owner is paused: kept, not written.
  await db.schema.alterTable('github_targets').addColumn('paused_at', t.integer).execute();
  await db.schema.alterTable('github_targets').addColumn('paused_reason', 'text').execute();

  // What GitHub said a secret's updated_at was right after this bot wrote it;
  // a secret whose updated_at differs was written by someone else since.
  await db.schema
    .createTable('github_written_secrets')
    .addColumn('secret_key', 'text', (c) => c.primaryKey())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('written_at', t.integer, (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('github_written_secrets').execute();
  await db.schema.alterTable('github_targets').dropColumn('paused_reason').execute();
  await db.schema.alterTable('github_targets').dropColumn('paused_at').execute();
  await db.schema.dropTable('github_device_flows').execute();
  await db.schema.dropTable('github_connections').execute();
}
