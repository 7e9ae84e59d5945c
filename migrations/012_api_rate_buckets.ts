import type { Kysely } from 'kysely';
import { types } from './engine.ts';

// The SDK API's rate limit per key (src/services/rate-limits.ts), kept in the
// database so that every replica takes from the same bucket: `tokens` left
// (fractional, refilled by the time elapsed), `at` when they were counted
// (epoch ms), and whether the last take was granted (1) or refused (0), which
// the one-statement take returns. One row per key: a revoked key's row
// stays (as the key's own row does), a deleted key's row goes with it.
// Written on every request and read by no cached value, so PostgreSQL does
// not announce its changes (no trigger of migration 010).
export async function up(db: Kysely<any>): Promise<void> {
  const t = types(db);
  await db.schema
    .createTable('api_rate_buckets')
    .addColumn('key_id', t.integer, (c) => c.primaryKey().references('api_keys.id').onDelete('cascade'))
    .addColumn('tokens', t.float, (c) => c.notNull())
    .addColumn('at', t.integer, (c) => c.notNull())
    .addColumn('granted', t.integer, (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('api_rate_buckets').execute();
}
