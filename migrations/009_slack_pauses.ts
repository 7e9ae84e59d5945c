import { sql, type Kysely } from 'kysely';
import { engineOf } from './engine.ts';

// Slack's rate limits are per channel and per method, for the whole app: a
// 429's Retry-After is kept here so every job, in every process on this
// database, waits it out instead of each trying again on its own.
export async function up(db: Kysely<any>): Promise<void> {
  if (engineOf(db) === 'postgres') {
    // Epoch milliseconds need PostgreSQL's 64-bit integer.
    await sql`CREATE TABLE slack_pauses (
    scope TEXT PRIMARY KEY,
    until BIGINT NOT NULL
  )`.execute(db);
    return;
  }
  await sql`CREATE TABLE slack_pauses (
    scope TEXT PRIMARY KEY,
    until INTEGER NOT NULL
  )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE slack_pauses`.execute(db);
}
