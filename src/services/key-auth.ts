/**
 * Authenticating SDK requests by API key. Known keys are remembered in this
 * process only while the database is unchanged: any write through this
 * connection, or by another process on the same file (`PRAGMA
 * data_version`), forgets them all, so a revocation holds from the very next
 * request. Unknown keys are never remembered.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { hashKey, KEY_PATTERN } from '../core/keys.ts';
import type { Db } from '../db/database.ts';

export interface KeyIdentity {
  readonly keyId: number;
  readonly publicId: string;
  readonly projectId: number;
  readonly projectName: string;
}

/** Far more than the keys a workspace uses at once; past it, lookups simply go to the database. */
const MAX_REMEMBERED = 10_000;

interface Memory {
  writes: number;
  dataVersion: number;
  readonly keys: Map<string, KeyIdentity>;
  readonly dataVersionOf: BetterSqlite3.Statement<[], number>;
}

const memories = new WeakMap<Db, Memory>();

/** The remembered keys, emptied first if the database changed since they were read. */
function memoryOf(db: Db): Memory {
  let memory = memories.get(db);
  if (!memory) {
    const dataVersionOf = db.sqlite.prepare<[], number>('PRAGMA data_version').pluck();
    memory = { writes: -1, dataVersion: -1, keys: new Map(), dataVersionOf };
    memories.set(db, memory);
  }
  const dataVersion = memory.dataVersionOf.get()!;
  if (db.writes !== memory.writes || dataVersion !== memory.dataVersion) {
    memory.keys.clear();
    memory.writes = db.writes;
    memory.dataVersion = dataVersion;
  }
  return memory;
}

export function authenticateKey(db: Db, presented: string): KeyIdentity | null {
  if (!KEY_PATTERN.test(presented)) return null;
  const hash = hashKey(presented);
  const memory = memoryOf(db);
  const known = memory.keys.get(hash);
  if (known) return known;
  // Compiled once: this runs on every request the memory cannot answer.
  const lookup = db.statement('authenticate-key', (q) =>
    q
      .selectFrom('api_keys')
      .innerJoin('projects', 'projects.id', 'api_keys.project_id')
      .select(['api_keys.id', 'api_keys.public_id', 'api_keys.project_id', 'projects.name'])
      .where('api_keys.hash', '=', '?')
      .where('api_keys.revoked_at', 'is', null)
      .where('projects.deleted_at', 'is', null),
  );
  const row = lookup.get(hash);
  if (!row) return null;
  const identity = { keyId: row.id, publicId: row.public_id, projectId: row.project_id, projectName: row.name };
  if (memory.keys.size < MAX_REMEMBERED) memory.keys.set(hash, identity);
  return identity;
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

  flush(): void {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    this.db.transaction(() => {
      for (const [keyId, at] of batch) {
        this.db.run(
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
