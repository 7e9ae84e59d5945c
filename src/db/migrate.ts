import { readdir } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));
const MIGRATION_FILE = /^\d{3}_[\w-]+\.(ts|js)$/;

/** Loads `migrations/NNN_name.ts` (or `.js` once built), in name order. */
class FolderMigrationProvider implements MigrationProvider {
  constructor(private readonly folder: string) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const files = (await readdir(this.folder)).filter((f) => MIGRATION_FILE.test(f) && !f.endsWith('.d.ts')).sort();
    const migrations: Record<string, Migration> = {};
    for (const file of files) {
      const module = (await import(pathToFileURL(join(this.folder, file)).href)) as Migration;
      migrations[file.replace(/\.(ts|js)$/, '')] = module;
    }
    return migrations;
  }
}

/**
 * Applies every pending migration, all in one transaction: either all
 * of them and their records in `kysely_migration` commit, or (one failed)
 * none does, so a migration that stops half-way never leaves half a schema
 * behind. (Kysely's SQLite adapter runs migrations without a transaction;
 * SQLite itself rolls DDL back.) Returns the names applied; throws
 * `Migration <name> failed: <reason>` naming the failing one.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run on an untyped schema
export async function migrateToLatest(db: Kysely<any>, folder = MIGRATIONS_DIR): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new FolderMigrationProvider(folder) });
  if (db.getExecutor().adapter.supportsTransactionalDdl) {
    // PostgreSQL: Kysely's Migrator already runs the pending migrations in one
    // transaction under a lock that replicas starting together wait on.
    const { error, results } = await migrator.migrateToLatest();
    if (error === undefined) return (results ?? []).map((r) => r.migrationName);
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`Migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  // Two processes starting together on a new file: BEGIN IMMEDIATE takes the
  // write lock, so the second waits (busy_timeout) and then finds the
  // migrations applied; one that waited too long tries again a moment later.
  for (let attempt = 1; ; attempt++) {
    let error: unknown;
    let results: Awaited<ReturnType<Migrator['migrateToLatest']>>['results'];
    try {
      await sql`BEGIN IMMEDIATE`.execute(db);
    } catch (begin) {
      error = begin;
    }
    if (error === undefined) {
      ({ error, results } = await migrator.migrateToLatest());
      if (error === undefined) await sql`COMMIT`.execute(db);
      // SQLite may already have rolled back on its own (a full disk, an interrupt).
      else await sql`ROLLBACK`.execute(db).catch(() => undefined);
    }
    if (error === undefined) return (results ?? []).map((r) => r.migrationName);
    if (attempt >= MIGRATION_ATTEMPTS) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
      throw new Error(`Migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
  }
}

const MIGRATION_ATTEMPTS = 5;
