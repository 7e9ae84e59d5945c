/**
 * Authenticating SDK requests by API key. A known key is answered from
 * memory while the database is unchanged (`Db.cached`): any write, here or by
 * another process on the same file, forgets it, so a revocation holds from
 * the very next request. Unknown keys are never remembered.
 */
import { hashKey, KEY_PATTERN } from '../core/keys.ts';
import type { Db } from '../db/database.ts';

export interface KeyIdentity {
  readonly keyId: number;
  readonly publicId: string;
  readonly projectId: number;
  readonly projectName: string;
}

async function lookup(db: Db, hash: string): Promise<KeyIdentity | null> {
  // Compiled once: this runs on every request the memory cannot answer.
  const row = await db
    .statement('authenticate-key', (q) =>
      q
        .selectFrom('api_keys')
        .innerJoin('projects', 'projects.id', 'api_keys.project_id')
        .select(['api_keys.id', 'api_keys.public_id', 'api_keys.project_id', 'projects.name'])
        .where('api_keys.hash', '=', '?')
        .where('api_keys.revoked_at', 'is', null)
        .where('projects.deleted_at', 'is', null),
    )
    .get(hash);
  return row ? { keyId: row.id, publicId: row.public_id, projectId: row.project_id, projectName: row.name } : null;
}

export async function authenticateKey(db: Db, presented: string): Promise<KeyIdentity | null> {
  if (!KEY_PATTERN.test(presented)) return null;
  const hash = hashKey(presented);
  return await db.cached(`key:${hash}`, async () => await lookup(db, hash));
}

/**
 * A key's first use after this long without one (ms) is written at once
 * rather than with the next batch: "was the old key used in the last 15
 * minutes?" (Revoke old key) may be asked through another replica a second
 * later, and must see it. Uses that follow within the window are batched.
 */
export const USAGE_QUIET_MS = 60_000;

/**
 * Last use of each key, kept in memory and written in one transaction every
 * few seconds (`flush`) instead of one write per request; a key's first use
 * after a quiet minute is written at once (see `USAGE_QUIET_MS`).
 */
export class UsageRecorder {
  private pending = new Map<number, number>();
  /** When each key's use was last written at once by this process (epoch ms). */
  private readonly announced = new Map<number, number>();
  private inFlight: Promise<void> = Promise.resolve();

  constructor(private readonly db: Db) {}

  record(keyId: number, at: number): void {
    this.pending.set(keyId, Math.max(at, this.pending.get(keyId) ?? 0));
    if (at - (this.announced.get(keyId) ?? -Infinity) < USAGE_QUIET_MS) return;
    this.announced.set(keyId, at);
    if (this.announced.size > 10_000) this.announced.clear();
    // A failed write keeps the uses for the periodic flush, which reports the error.
    this.inFlight = this.flush().catch(() => {});
  }

  /** Resolves once the writes `record` started at once have ended. */
  idle(): Promise<void> {
    return this.inFlight;
  }

  /**
   * Writes what was recorded since the last flush, after any write `record`
   * started at once; on failure keeps it for the next one and rethrows.
   */
  async flush(): Promise<void> {
    await this.inFlight;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    try {
      await this.write(batch);
    } catch (error) {
      for (const [keyId, at] of batch) this.record(keyId, at);
      throw error;
    }
  }

  private async write(batch: ReadonlyMap<number, number>): Promise<void> {
    await this.db.transaction(async () => {
      for (const [keyId, at] of batch) {
        await this.db.run(
          this.db.q
            .updateTable('api_keys')
            .set({ last_used_at: at })
            .where('id', '=', keyId)
            .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', at)])),
        );
      }
    });
  }
}
