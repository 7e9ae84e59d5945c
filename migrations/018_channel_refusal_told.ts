import type { Kysely } from 'kysely';
import { types } from './engine.ts';

// When Slack refuses an announcement of blocked and over-budget decisions for
// good (the approvals channel archived, the bot removed...) or the channel is
// shared with another organisation, the project's Owners are told by DM, once
// per project: `decisions_refusal_told_at` (epoch ms) is set by one guarded
// UPDATE in the transaction that queues their DMs, so two replicas or later
// bursts do not tell them again. Setting or clearing the approvals channel
// puts it back to null. A column of projects, which already has migration
// 010's change-notice trigger on PostgreSQL: nothing new by name.
export async function up(db: Kysely<any>): Promise<void> {
  const t = types(db);
  await db.schema.alterTable('projects').addColumn('decisions_refusal_told_at', t.integer).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('projects').dropColumn('decisions_refusal_told_at').execute();
}
