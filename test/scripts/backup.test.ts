import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backup, main } from '../../scripts/backup.ts';
import { openDb, type SqliteDb } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { JobQueue } from '../../src/jobs/queue.ts';
import { createLogger } from '../../src/logger.ts';
import { findBrokenLink } from '../../src/services/audit.ts';
import type { ServiceContext } from '../../src/services/context.ts';
import { createProjects } from '../../src/services/projects.ts';
import { testSqliteDb, user } from '../helpers/db.ts';

const dir = mkdtempSync(join(tmpdir(), 'jamjet-backup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let live: SqliteDb;
let ctx: ServiceContext;
let source: string;
let n = 0;
beforeEach(async () => {
  source = join(dir, `live-${++n}.db`);
  live = await testSqliteDb(source);
  const now = () => Date.UTC(2026, 10, 29, 9, 0, 0);
  ctx = { db: live, now, jobs: new JobQueue(live, now, createLogger('error', () => {})) };
  await createProjects(ctx, user('UOWNER'), 'payments', ['dev', 'prod']);
  await createProjects(ctx, user('UOWNER'), 'search', null);
});
afterEach(async () => {
  await live.close();
});

const count = (sqlite: BetterSqlite3.Database, table: string) => sqlite.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;

describe('npm run backup', () => {
  it('copies the live database into one private file that opens with its migrations, rows and an intact audit trail', async () => {
    const target = join(dir, `copy-${n}.db`);
    const summary = await backup(source, target);
    // The bot keeps writing: the copy is the state at the backup, not after.
    await createProjects(ctx, user('UOWNER'), 'later', null);

    expect(statSync(target).mode & 0o777).toBe(0o600);
    expect(summary.migrations).toEqual(live.sqlite.prepare('SELECT name FROM kysely_migration ORDER BY name').pluck().all());
    expect(summary.migrations.length).toBeGreaterThan(0);
    expect(existsSync(`${target}-wal`)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.partial-'))).toEqual([]);

    const copy = openDb(target);
    try {
      // Nothing left to migrate: the copy starts as it is.
      expect(await migrateToLatest(copy.kysely)).toEqual([]);
      const names = copy.sqlite.prepare('SELECT name FROM projects ORDER BY name').pluck().all();
      expect(names).toEqual(['payments-dev', 'payments-prod', 'search']);
      expect(count(copy.sqlite, 'api_keys')).toBe(3);
      expect(count(copy.sqlite, 'audit_events')).toBe(summary.auditEvents);
      expect(summary.auditEvents).toBeGreaterThan(0);
      expect(await findBrokenLink(copy)).toBeNull();
    } finally {
      await copy.close();
    }
  });

  it('finishes while the bot writes all the time, with the state of one moment', async () => {
    // Well over the 100 pages SQLite's backup copies per step by default.
    live.sqlite.exec('CREATE TABLE ballast (id INTEGER PRIMARY KEY, v TEXT)');
    const insert = live.sqlite.prepare('INSERT INTO ballast (v) VALUES (?)');
    live.sqlite.transaction(() => {
      for (let i = 0; i < 2000; i++) insert.run('x'.repeat(500));
    })();
    // Another connection, as the running bot is: a write between two steps would make a page-by-page copy start over.
    const bot = new BetterSqlite3(source);
    bot.pragma('busy_timeout = 5000');
    const write = bot.prepare('INSERT INTO ballast (v) VALUES (?)');
    let writing = true;
    let writes = 0;
    const keepWriting = () => {
      if (!writing) return;
      write.run('y');
      writes++;
      setImmediate(keepWriting);
    };
    setImmediate(keepWriting);
    const target = join(dir, `busy-${n}.db`);
    try {
      const outcome = await Promise.race([
        backup(source, target).then(() => 'done'),
        new Promise((resolve) => setTimeout(() => resolve('still copying after 10 s'), 10_000)),
      ]);
      expect(outcome).toBe('done');
    } finally {
      writing = false;
      bot.close();
    }
    expect(writes).toBeGreaterThan(0);
    const copy = new BetterSqlite3(target, { readonly: true });
    try {
      const rows = copy.prepare('SELECT count(*) FROM ballast').pluck().get() as number;
      expect(rows).toBeGreaterThanOrEqual(2000);
      expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      copy.close();
    }
  });

  it('refuses to overwrite a file, to copy onto the live database, or to copy a database that is not there', async () => {
    const target = join(dir, `taken-${n}.db`);
    await backup(source, target);
    const before = statSync(target).mtimeMs;
    await expect(backup(source, target)).rejects.toThrow(`${target} already exists; choose a new file name`);
    expect(statSync(target).mtimeMs).toBe(before);
    await expect(backup(source, source)).rejects.toThrow('is the live database itself');
    await expect(backup(join(dir, 'missing.db'), join(dir, `other-${n}.db`))).rejects.toThrow('There is no database at');
    const folder = join(dir, `folder-${n}.db`);
    mkdirSync(folder);
    await expect(backup(folder, join(dir, `other-${n}.db`))).rejects.toThrow(`${folder} (DATABASE_URL) is a folder, not a database file; nothing to back up.`);
    expect(existsSync(join(dir, `other-${n}.db`))).toBe(false);
    expect(existsSync(join(dir, `other-${n}.db`))).toBe(false);
  });

  it('leaves no file behind when the copy fails its check', async () => {
    const broken = join(dir, `not-jamjet-${n}.db`);
    const other = new BetterSqlite3(broken);
    other.exec('CREATE TABLE t (x)');
    other.close();
    const target = join(dir, `from-not-jamjet-${n}.db`);
    await expect(backup(broken, target)).rejects.toThrow('not a JamJet database');
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.partial-'))).toEqual([]);
  });

  it('reads DATABASE_URL and prints one summary line', async () => {
    const target = join(dir, `cli-${n}.db`);
    const lines: string[] = [];
    const saved = process.env.DATABASE_URL;
    process.env.DATABASE_URL = `sqlite:${source}`;
    try {
      expect(await main([target], (line) => lines.push(line))).toBe(0);
    } finally {
      if (saved === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = saved;
    }
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^Backed up ${source} to ${target} \\(\\d+\\.\\d MiB, mode 0600\\): \\d+ migrations up to \\d{3}_\\w+, \\d+ audit events, chain intact\\.$`));
    await expect(main([], () => {})).rejects.toThrow('backup takes one file name.\nUsage: npm run backup -- <file>');
  });
});
