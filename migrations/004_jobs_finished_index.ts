import { sql, type Kysely } from 'kysely';

// Finished jobs are pruned after a week; this keeps finding them cheap.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX jobs_finished ON jobs(finished_at) WHERE status IN ('done', 'dead')`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX jobs_finished`.execute(db);
}
