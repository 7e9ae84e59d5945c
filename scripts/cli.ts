/**
 * What the operator's scripts share: which database they work on. They need
 * no Slack settings, only `DATABASE_URL` (or a path given on the command line).
 */
import { loadDatabasePath } from '../src/config.ts';

/** Thrown for a mistake the operator can fix; the script prints the message alone and exits 1. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * The SQLite file to work on: `given` (a path, or `sqlite:<path>`), else
 * `DATABASE_URL` from the environment or `.env`. Throws UsageError for an
 * in-memory database, which no other process can read.
 */
export function databasePath(given: string | undefined): string {
  const path = given === undefined ? loadDatabasePath() : given.replace(/^sqlite:/, '');
  if (path === ':memory:') throw new UsageError('DATABASE_URL is sqlite::memory:, which lives only inside the running bot; there is no file to read.');
  return path;
}

/** Runs `main`, prints its one-line failure on stderr and sets the exit code. */
export async function run(main: () => Promise<number> | number): Promise<void> {
  try {
    process.exitCode = await main();
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
