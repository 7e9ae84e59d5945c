/**
 * The SDK API's rate limit (docs/ARCHITECTURE.md, sections 8 and 14): a token
 * bucket per API key, so one runaway agent cannot flood a channel with
 * approval cards. The buckets live in the database (`api_rate_buckets`,
 * migrations 012 and 017), so every replica on it takes from the same one and
 * a restart refills nothing. Each route's limit has its own bucket per key, so
 * a flood on one route does not starve another.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import { greatest, least } from '../db/dialect.ts';

/** A token bucket's size and refill. */
export interface RateLimit {
  /** The bucket's name, one per route's limit (`api_rate_buckets.bucket`). */
  readonly bucket: string;
  /** Requests allowed at once. */
  readonly burst: number;
  /** Requests allowed per second after that. */
  readonly perSecond: number;
}

/**
 * Takes one token from `limit`'s bucket of API key `keyId` (`api_keys.id`) at `at`
 * (epoch ms), in ONE statement: an insert of a full bucket less one token,
 * or, when the key has a bucket, an update that refills it by the time since
 * it was last counted (capped at `burst`) and consumes a token only when at
 * least one is there, returning what is left and whether it was granted.
 * Both engines run the statement atomically on the key's row (SQLite under
 * its write lock; PostgreSQL locks the row, and a concurrent take waits and
 * then reads the row the first one left), so takes by any number of
 * replicas at once neither lose nor spend a token twice. A replica whose
 * clock is behind refills nothing and never moves the bucket's time back.
 *
 * Returns 0 when the request may go ahead, otherwise the whole seconds to
 * wait until a token is there (at least 1), for `Retry-After`. A revoked
 * key's bucket stays (one row per key ever made); deleting a key deletes
 * its bucket. Throws the engine's error when the database fails, or when
 * `keyId` is no key.
 */
export async function takeRateToken(db: Db, limit: RateLimit, keyId: number, at: number): Promise<number> {
  const full = limit.burst >= 1;
  const stored = sql.ref<number>('api_rate_buckets.tokens');
  const elapsedMs = greatest(db, sql<number>`${sql.ref('excluded.at')} - ${sql.ref('api_rate_buckets.at')}`, sql.lit(0));
  // A double on both engines (PostgreSQL would otherwise take the parameter for a bigint).
  const perMs = sql<number>`cast(${limit.perSecond / 1000} as double precision)`;
  const refilled = least(db, sql<number>`${stored} + ${elapsedMs} * ${perMs}`, sql<number>`cast(${limit.burst} as double precision)`);
  const row = await db.getUncached(
    db.q
      .insertInto('api_rate_buckets')
      .values({ key_id: keyId, bucket: limit.bucket, tokens: full ? limit.burst - 1 : limit.burst, at, granted: full ? 1 : 0 })
      .onConflict((oc) =>
        oc.columns(['key_id', 'bucket']).doUpdateSet({
          tokens: sql<number>`case when ${refilled} >= 1 then ${refilled} - 1 else ${refilled} end`,
          granted: sql<number>`case when ${refilled} >= 1 then 1 else 0 end`,
          at: greatest(db, sql.ref('excluded.at'), sql.ref('api_rate_buckets.at')),
        }),
      )
      .returning(['tokens', 'granted']),
  );
  if (!row) throw new Error(`the rate bucket of key ${keyId} returned no row`);
  if (row.granted === 1) return 0;
  return Math.max(1, Math.ceil((1 - row.tokens) / limit.perSecond));
}
