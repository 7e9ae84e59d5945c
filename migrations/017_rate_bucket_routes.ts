import type { Kysely } from 'kysely';
import { types } from './engine.ts';
import { up as up012 } from './012_api_rate_buckets.ts';

// The SDK API's rate limit keeps one bucket per key AND route
// (src/services/rate-limits.ts): an agent reporting many policy decisions
// must not spend the tokens its approval requests need. `bucket` names the
// route's limit ('approvals', 'policy_events'). The buckets are a few seconds
// of state, so the table is recreated rather than copied: every key starts
// with a full bucket once. Like 012: no change trigger of migration 010.
export async function up(db: Kysely<any>): Promise<void> {
  const t = types(db);
  await db.schema.dropTable('api_rate_buckets').execute();
  await db.schema
    .createTable('api_rate_buckets')
    .addColumn('key_id', t.integer, (c) => c.notNull().references('api_keys.id').onDelete('cascade'))
    .addColumn('bucket', 'text', (c) => c.notNull())
    .addColumn('tokens', t.float, (c) => c.notNull())
    .addColumn('at', t.integer, (c) => c.notNull())
    .addColumn('granted', t.integer, (c) => c.notNull())
    .addPrimaryKeyConstraint('api_rate_buckets_pkey', ['key_id', 'bucket'])
    .execute();
}

/** Back to 012's table, one bucket per key. */
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('api_rate_buckets').execute();
  await up012(db);
}
