import type { Kysely } from 'kysely';
import { types } from './engine.ts';

// Slack takes about one post a second per channel from the whole app, not
// from each process: the next free moment to post to each channel
// (`next_free`, epoch ms) is kept here, so that replicas posting cards to
// one channel take turns instead of each posting at Slack's pace and
// together past it (src/jobs/slack-pace.ts). One row per channel ever
// posted to. A job told to come back at its slot holds it in
// `slack_slot_holds` (whichever replica runs it next uses that slot, and
// none is wasted); a hold goes when it is used, or a minute after its slot.
// Written on every post and read by no cached value, so PostgreSQL does not
// announce their changes (no trigger of migration 010).
export async function up(db: Kysely<any>): Promise<void> {
  const t = types(db);
  await db.schema
    .createTable('slack_slots')
    .addColumn('scope', 'text', (c) => c.primaryKey())
    .addColumn('next_free', t.integer, (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('slack_slot_holds')
    .addColumn('job_id', t.integer, (c) => c.notNull())
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('slot', t.integer, (c) => c.notNull())
    .addPrimaryKeyConstraint('slack_slot_holds_pk', ['job_id', 'scope'])
    .execute();
  await db.schema.createIndex('slack_slot_holds_slot').on('slack_slot_holds').column('slot').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('slack_slot_holds').execute();
  await db.schema.dropTable('slack_slots').execute();
}
