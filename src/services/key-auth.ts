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
 * Last use of each key, kept in memory and written in one transaction every
 * few seconds instead of one write per request.
 */
export class UsageRecorder {
  private pending = new Map<number, number>();

  constructor(private readonly db: Db) {}

  record(keyId: number, at: number): void {
    this.pending.set(keyId, Math.max(at, this.pending.get(keyId) ?? 0));
  }

  /** Writes what was recorded since the last flush; on failure keeps it for the next one and rethrows. */
  async flush(): Promise<void> {
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
