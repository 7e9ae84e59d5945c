/**
 * Big seeds written straight into SQLite: one prepared statement per table
 * inside one transaction, which takes seconds where the services would take
 * minutes. Rows look like the product's own (same columns, same formats).
 */
import { rmSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import { displayKey, hashKey } from '../../src/core/keys.ts';
import { openDb, type SqliteDb } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { BENCH_USER } from './projects.ts';

/** Opens (creating) a database file and applies the product's migrations. */
export async function openMigrated(path: string): Promise<SqliteDb> {
  const db = openDb(path);
  await migrateToLatest(db.kysely);
  return db;
}

/** Removes a database file with its WAL and shared-memory files. */
export function removeDb(path: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
}

/** `count` pending jobs of `kind`, the i-th due at `runAt(i)`. */
export function seedJobs(sqlite: BetterSqlite3.Database, kind: string, count: number, runAt: (i: number) => number): void {
  const insert = sqlite.prepare(
    "INSERT INTO jobs (kind, payload, run_at, status, created_at) VALUES (?, ?, ?, 'pending', ?)",
  );
  const at = Date.now();
  sqlite.transaction(() => {
    for (let i = 0; i < count; i++) insert.run(kind, JSON.stringify({ n: i }), runAt(i), at);
  })();
}

/**
 * `projects` projects owned by the bench user, each with `keysPerProject`
 * active keys. Keys are derived from their index, so ids and hashes are
 * unique without a random draw that could collide.
 */
export function seedProjectsAndKeys(sqlite: BetterSqlite3.Database, projects: number, keysPerProject: number): void {
  const at = Date.now();
  const project = sqlite.prepare('INSERT INTO projects (name, created_by, created_at) VALUES (?, ?, ?)');
  const owner = sqlite.prepare(
    "INSERT INTO memberships (project_id, user_id, role, added_by, created_at) VALUES (?, ?, 'owner', ?, ?)",
  );
  const key = sqlite.prepare(
    'INSERT INTO api_keys (public_id, project_id, name, hash, display, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  sqlite.transaction(() => {
    let n = 0;
    for (let p = 0; p < projects; p++) {
      const id = Number(project.run(`seed-${p}`, BENCH_USER, at).lastInsertRowid);
      owner.run(id, BENCH_USER, BENCH_USER, at);
      for (let k = 0; k < keysPerProject; k++, n++) {
        const plaintext = `jj_${n.toString(16).padStart(32, '0')}`;
        key.run(`key_${n.toString(16).padStart(8, '0')}`, id, `key-${k}`, hashKey(plaintext), displayKey(plaintext), BENCH_USER, at);
      }
    }
  })();
}
