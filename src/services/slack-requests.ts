/**
 * The record of signed Slack requests already accepted (docs/ARCHITECTURE.md, section 15: a
 * signed Slack request is accepted once). Kept in the database, so every
 * process on it shares one record.
 */
import type { Db } from '../db/database.ts';

/**
 * Records the signature (`v0=<hex>`) of a request whose signature has been
 * verified. `expiresAt` (epoch ms) is when the request's timestamp leaves
 * the signing window; until then a request with the same signature is a
 * copy. Returns false, and records nothing, when the signature was already
 * recorded: the request is a replay. Throws when the database fails.
 */
export async function recordSlackRequest(db: Db, signature: string, expiresAt: number): Promise<boolean> {
  // No cached read looks at this table: recording a request must not empty the cache of every other read.
  const { changes } = await db.runUncached(
    db.q
      .insertInto('slack_requests_seen')
      .values({ signature, expires_at: expiresAt })
      .onConflict((oc) => oc.column('signature').doNothing()),
  );
  return changes === 1;
}

/** Forgets signatures whose window ended before `now` (epoch ms); returns how many. */
export async function pruneSlackRequests(db: Db, now: number): Promise<number> {
  return (await db.runUncached(db.q.deleteFrom('slack_requests_seen').where('expires_at', '<', now))).changes;
}
