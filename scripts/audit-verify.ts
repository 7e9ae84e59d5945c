/**
 * `npm run audit:verify [-- <database path>]`: walks the audit trail's hash
 * chain offline (the bot may be running or not; the file is opened read-only)
 * and names the first event that was changed, removed or inserted outside
 * the bot. Exit 0 when intact, 1 when broken or when the file cannot be read.
 * The path defaults to `DATABASE_URL` (environment, then `.env`).
 */
import { existsSync, statSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { SqliteDb } from '../src/db/database.ts';
import { describeBreak, verifyChain, type ChainBreak } from '../src/services/audit.ts';
import { databasePath, run, UsageError } from './cli.ts';

export const USAGE = 'Usage: npm run audit:verify [-- <database path>]';

export interface VerifyOutcome {
  /** Events checked and found intact, from the first. */
  readonly checked: number;
  /** The first broken event, or null when the whole chain is intact. */
  readonly broken: ChainBreak | null;
}

/** Opens `path` read-only and walks its chain. Throws UsageError for a file that is not a JamJet database. */
export async function verifyFile(path: string): Promise<VerifyOutcome> {
  if (!existsSync(path)) throw new UsageError(`There is no database at ${path}.`);
  if (statSync(path).isDirectory()) throw new UsageError(`${path} is a folder, not a database file.`);
  let sqlite: BetterSqlite3.Database;
  try {
    sqlite = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new UsageError(`Cannot open ${path}: ${(error as Error).message}.`);
  }
  const db = new SqliteDb(sqlite);
  try {
    let hasTrail: boolean;
    try {
      hasTrail = sqlite.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_events'").get() !== undefined;
    } catch (error) {
      throw new UsageError(`Cannot read ${path}: ${(error as Error).message}.`);
    }
    if (!hasTrail) throw new UsageError(`${path} has no audit trail: it is not a JamJet database, or the bot never started on it.`);
    const { brokenAt, checked } = await verifyChain(db);
    return { checked, broken: brokenAt === null ? null : await describeBreak(db, brokenAt) };
  } finally {
    await db.close();
  }
}

const REASONS: Record<ChainBreak['reason'], string> = {
  changed: 'its contents were changed after it was written',
  does_not_follow: 'it does not continue the event before it (an event before it was removed, or this one was inserted)',
};

/** The one line the operator reads. */
export function describeOutcome(path: string, outcome: VerifyOutcome): string {
  const { broken, checked } = outcome;
  if (!broken) return `Audit trail of ${path} is intact: ${checked} events checked.`;
  const where = broken.projectId === null ? '' : ` in project ${broken.projectId}`;
  return (
    `Audit trail of ${path} is broken at event ${broken.id} (${broken.action} by ${broken.actor}${where}, ` +
    `${new Date(broken.createdAt).toISOString()}): ${REASONS[broken.reason]}. The ${checked} events before it are intact.`
  );
}

/** The command: returns the exit code; the outcome goes to `write`. */
export async function main(args: readonly string[], write: (line: string) => void): Promise<number> {
  if (args.length > 1 || args[0]?.startsWith('-')) throw new UsageError(`audit:verify takes at most one database path.\n${USAGE}`);
  const path = databasePath(args[0]);
  const outcome = await verifyFile(path);
  write(describeOutcome(path, outcome));
  return outcome.broken ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await run(() => main(process.argv.slice(2), (line) => process.stdout.write(`${line}\n`)));
}
