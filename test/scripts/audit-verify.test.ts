import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../scripts/audit-verify.ts';
import { JobQueue } from '../../src/jobs/queue.ts';
import { createLogger } from '../../src/logger.ts';
import { createProjects } from '../../src/services/projects.ts';
import { testSqliteDb, user } from '../helpers/db.ts';

const dir = mkdtempSync(join(tmpdir(), 'jamjet-audit-verify-'));
const original = join(dir, 'original.db');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  const db = await testSqliteDb(original);
  const now = () => Date.UTC(2026, 10, 29, 9, 0, 0);
  const ctx = { db, now, jobs: new JobQueue(db, now, createLogger('error', () => {})) };
  for (const name of ['alpha', 'beta', 'gamma', 'delta']) await createProjects(ctx, user('UOWNER'), name, null);
  // One self-contained file to copy.
  db.sqlite.pragma('wal_checkpoint(TRUNCATE)');
  await db.close();
});

let copies = 0;
/** A copy of the original, changed by `tamper` with the guards an attacker with the file would drop. */
function copy(tamper?: (sqlite: BetterSqlite3.Database) => void): string {
  const file = join(dir, `copy-${++copies}.db`);
  copyFileSync(original, file);
  if (tamper) {
    const sqlite = new BetterSqlite3(file);
    sqlite.exec('DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete; DROP TRIGGER audit_events_chain');
    tamper(sqlite);
    sqlite.close();
  }
  return file;
}

async function verify(file: string): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await main([file], (line) => lines.push(line));
  return { code, lines };
}

describe('npm run audit:verify', () => {
  it('says an intact trail is intact, with how many events it checked', async () => {
    const file = copy();
    const events = new BetterSqlite3(file, { readonly: true }).prepare('SELECT count(*) FROM audit_events').pluck().get() as number;
    expect(events).toBeGreaterThanOrEqual(8);
    expect(await verify(file)).toEqual({ code: 0, lines: [`Audit trail of ${file} is intact: ${events} events checked.`] });
  });

  it('names the first changed event, exit 1', async () => {
    const file = copy((sqlite) => sqlite.prepare("UPDATE audit_events SET actor = 'UEVIL' WHERE id = 5").run());
    const { code, lines } = await verify(file);
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(`^Audit trail of ${file} is broken at event 5 \\([\\w.]+ by UEVIL( in project \\d+)?, 2026-11-29T09:00:00\\.000Z\\): its contents were changed after it was written\\. The 4 events before it are intact\\.$`),
    );
  });

  it('names the event after a removed one, exit 1', async () => {
    const file = copy((sqlite) => sqlite.prepare('DELETE FROM audit_events WHERE id = 3').run());
    const { code, lines } = await verify(file);
    expect(code).toBe(1);
    expect(lines[0]).toContain('is broken at event 4 (');
    expect(lines[0]).toContain('it does not continue the event before it (an event before it was removed, or this one was inserted). The 2 events before it are intact.');
  });

  it('refuses a file that is not a JamJet database in one sentence', async () => {
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'just notes');
    await expect(verify(text)).rejects.toThrow(/^Cannot read .*notes\.txt: file is not a database\.$/);
    const empty = join(dir, 'empty.db');
    new BetterSqlite3(empty).close();
    await expect(verify(empty)).rejects.toThrow(`${empty} has no audit trail`);
    await expect(verify(join(dir, 'missing.db'))).rejects.toThrow(`There is no database at ${join(dir, 'missing.db')}.`);
    const folder = join(dir, 'a-folder.db');
    mkdirSync(folder);
    await expect(verify(folder)).rejects.toThrow(`${folder} is a folder, not a database file.`);
  });

  it('refuses an in-memory or malformed DATABASE_URL, and extra arguments, in one sentence', async () => {
    const saved = process.env.DATABASE_URL;
    try {
      process.env.DATABASE_URL = 'sqlite::memory:';
      await expect(main([], () => {})).rejects.toThrow('DATABASE_URL is sqlite::memory:, which lives only inside the running bot; there is no file to read.');
      process.env.DATABASE_URL = 'mysql://db/jamjet';
      await expect(main([], () => {})).rejects.toThrow(/^Configuration error: DATABASE_URL should look like sqlite:/);
    } finally {
      if (saved === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = saved;
    }
    await expect(main(['a.db', 'b.db'], () => {})).rejects.toThrow('audit:verify takes at most one database path.\nUsage: npm run audit:verify [-- <database path>]');
  });

  it('runs as a command: the line on stdout, exit 1 for a tampered copy, DATABASE_URL when no path is given', () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const tsx = pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href;
    const script = join(root, 'scripts/audit-verify.ts');
    const file = copy((sqlite) => sqlite.prepare("UPDATE audit_events SET details = '{}' WHERE id = 2").run());
    const result = spawnSync(process.execPath, ['--import', tsx, script], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: `sqlite:${file}` },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(1);
    expect(result.stdout).toMatch(/^Audit trail of .* is broken at event 2 .*\n$/);
  });
});
