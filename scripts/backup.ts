/**
 * `npm run backup -- <file>`: a consistent copy of the live SQLite database
 * of `DATABASE_URL`, taken with SQLite's online backup API (through
 * better-sqlite3) while the bot keeps running. The copy is written next to
 * `<file>` under a temporary name, checked (integrity, migrations, audit
 * chain), switched to a single self-contained file (no -wal), made readable by
 * its owner only (0600) and only then renamed to `<file>`. An existing
 * `<file>` is never overwritten. Exit 0 with one summary line; 1 with one
 * sentence on failure.
 */
import { existsSync, openSync, closeSync, chmodSync, renameSync, rmSync, statSync, fsyncSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { SqliteDb } from '../src/db/database.ts';
import { verifyChain } from '../src/services/audit.ts';
import { databasePath, run, UsageError } from './cli.ts';

export const USAGE = 'Usage: npm run backup -- <file>';

export interface BackupSummary {
  /** Where the copy is. */
  readonly file: string;
  /** Size of the copy in bytes. */
  readonly bytes: number;
  /** Names of the migrations applied in the copy, in order. */
  readonly migrations: string[];
  /** Audit events in the copy; the chain was verified intact. */
  readonly auditEvents: number;
}

/** Pages per backup step: all of them (SQLite's maximum step size). */
const ALL_PAGES = 0x7fffffff;

/**
 * Copies the database at `source` to `target`. Throws UsageError when
 * `target` exists or is the source itself, or when the copy fails its checks
 * (then nothing is left at `target`).
 */
export async function backup(source: string, target: string): Promise<BackupSummary> {
  if (!existsSync(source)) throw new UsageError(`There is no database at ${source} (DATABASE_URL); nothing to back up.`);
  if (statSync(source).isDirectory()) throw new UsageError(`${source} (DATABASE_URL) is a folder, not a database file; nothing to back up.`);
  if (resolve(source) === resolve(target)) throw new UsageError(`${target} is the live database itself; choose another file.`);
  if (existsSync(target)) throw new UsageError(`${target} already exists; choose a new file name (a backup never overwrites one).`);
  const partial = join(dirname(target), `.${basename(target)}.partial-${process.pid}`);
  // Created empty with 0600 first, so the copy is never readable by others, not even while it is written.
  try {
    closeSync(openSync(partial, 'wx', 0o600));
  } catch (error) {
    throw new UsageError(`Cannot write in ${dirname(resolve(target))}: ${(error as Error).message}.`);
  }
  try {
    const live = new BetterSqlite3(source, { readonly: true, fileMustExist: true });
    try {
      // All pages in one step, under one read snapshot: the copy is one consistent state, and the bot keeps
      // writing meanwhile (WAL). Page by page (better-sqlite3's default), every write between two steps made
      // SQLite start over, so a busy bot could keep a backup from ever finishing.
      await live.backup(partial, { progress: () => ALL_PAGES });
    } finally {
      live.close();
    }
    const summary = await check(partial);
    chmodSync(partial, 0o600);
    renameSync(partial, target);
    return { file: target, bytes: statSync(target).size, ...summary };
  } catch (error) {
    rmSync(partial, { force: true });
    rmSync(`${partial}-journal`, { force: true });
    if (error instanceof UsageError) throw error;
    throw new UsageError(`The backup of ${source} failed: ${(error as Error).message}.`);
  }
}

/** Checks the copy, makes it one self-contained file and flushes it to disk. */
async function check(file: string): Promise<Omit<BackupSummary, 'file' | 'bytes'>> {
  const sqlite = new BetterSqlite3(file, { fileMustExist: true });
  const db = new SqliteDb(sqlite);
  try {
    // The live database is in WAL mode; the copy keeps no -wal file beside it.
    sqlite.pragma('journal_mode = DELETE');
    const integrity = sqlite.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') throw new Error(`the copy fails SQLite's integrity check (${String(integrity)})`);
    const tables = sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('kysely_migration', 'audit_events')").pluck().all();
    if (tables.length < 2) throw new Error('it is not a JamJet database (no migrations or audit trail)');
    const migrations = sqlite.prepare('SELECT name FROM kysely_migration ORDER BY name').pluck().all() as string[];
    const { brokenAt, checked } = await verifyChain(db);
    if (brokenAt !== null) throw new Error(`its audit trail is broken at event ${brokenAt} (npm run audit:verify names it)`);
    return { migrations, auditEvents: checked };
  } finally {
    await db.close();
    const fd = openSync(file, 'r');
    fsyncSync(fd);
    closeSync(fd);
  }
}

/** The command: returns the exit code; the summary goes to `write`. */
export async function main(args: readonly string[], write: (line: string) => void): Promise<number> {
  if (args.length !== 1 || args[0]!.startsWith('-')) throw new UsageError(`backup takes one file name.\n${USAGE}`);
  const source = databasePath(undefined);
  const s = await backup(source, args[0]!);
  const mib = (s.bytes / 1024 / 1024).toFixed(1);
  write(
    `Backed up ${source} to ${s.file} (${mib} MiB, mode 0600): ${s.migrations.length} migrations up to ${s.migrations.at(-1) ?? 'none'}, ` +
      `${s.auditEvents} audit events, chain intact.`,
  );
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // Whatever SQLite creates beside the copy (its journal) is private too.
  process.umask(0o077);
  await run(() => main(process.argv.slice(2), (line) => process.stdout.write(`${line}\n`)));
}
