import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Migrator, NO_MIGRATIONS, type Migration } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openDb, type SqliteDb } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';

const folder = fileURLToPath(new URL('../../migrations/', import.meta.url));
const names = readdirSync(folder)
  .filter((f) => /^\d{3}_.+\.ts$/.test(f))
  .sort()
  .map((f) => f.replace(/\.ts$/, ''));

/** What each migration adds, as sqlite_master sees it. */
const ADDS: Record<string, string[]> = {
  '001_foundation': ['projects', 'memberships', 'pending_invites', 'audit_events', 'projects_live_name', 'audit_events_no_update'],
  '002_keys_rotations_jobs': ['api_keys', 'key_deliveries', 'github_targets', 'rotations', 'rotation_targets', 'jobs', 'rotations_one_open', 'jobs_due'],
  '003_approvals': ['approvals', 'approval_cards', 'approvals_pending'],
  '004_jobs_finished_index': ['jobs_finished'],
  '005_audit_chain_guard': ['audit_events_chain'],
  '006_github_authority': ['github_connections', 'github_device_flows', 'github_device_flows_open', 'github_written_secrets'],
  '007_bounds': ['approvals_pending_key', 'pending_invites_project', 'projects_live_creator'],
  '008_slack_requests_seen': ['slack_requests_seen', 'slack_requests_seen_expiry'],
  '009_slack_pauses': ['slack_pauses'],
  // PostgreSQL only: on SQLite it adds nothing (the schema snapshot below stays the same).
  '010_change_notices': [],
  // PostgreSQL only as well.
  '011_membership_order': [],
  '012_api_rate_buckets': ['api_rate_buckets'],
  '013_slack_slots': ['slack_slots', 'slack_slot_holds', 'slack_slot_holds_slot'],
  '014_policy_rules': ['policy_rules', 'policy_rules_project'],
  '015_policy_events': ['policy_events', 'policy_events_project', 'policy_events_unannounced', 'jobs_pending_kind'],
  '016_approval_quorum': ['approval_votes'],
  // Recreates api_rate_buckets with a bucket per route: nothing new by name.
  '017_rate_bucket_routes': [],
  // A column of projects: nothing new by name.
  '018_channel_refusal_told': [],
};

let db: SqliteDb | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
});

const objects = () =>
  (db!.sqlite.prepare("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE 'kysely_%'").all() as { name: string }[]).map(
    (r) => r.name,
  );

function migrator(): Migrator {
  return new Migrator({
    db: db!.kysely,
    provider: {
      getMigrations: async () =>
        Object.fromEntries(
          await Promise.all(names.map(async (n) => [n, (await import(`${folder}${n}.ts`)) as Migration] as const)),
        ),
    },
  });
}

describe('migrations', () => {
  it('are all described here', () => {
    expect(names).toEqual(Object.keys(ADDS));
  });

  it.each(names)('%s applies on top of the ones before it, from an empty database, and rolls back', async (name) => {
    db = openDb(':memory:');
    const m = migrator();
    const index = names.indexOf(name);
    if (index > 0) expect((await m.migrateTo(names[index - 1]!)).error).toBeUndefined();
    const before = objects();
    expect((await m.migrateTo(name)).error).toBeUndefined();
    const added = objects().filter((o) => !before.includes(o));
    for (const expected of ADDS[name]!) expect(added).toContain(expected);
    expect((await m.migrateTo(index > 0 ? names[index - 1]! : NO_MIGRATIONS)).error).toBeUndefined();
    expect(objects().sort()).toEqual(before.sort());
  });

  it('give SQLite exactly the schema installed databases have (migrations that learnt PostgreSQL did not change it)', async () => {
    db = openDb(':memory:');
    await migrateToLatest(db.kysely);
    const ddl = db.sqlite
      .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'kysely_%' ORDER BY type, name")
      .all() as { sql: string }[];
    await expect(ddl.map((r) => `${r.sql};\n`).join('\n')).toMatchFileSnapshot('__snapshots__/sqlite-schema.sql');
  });

  it('runs at start-up from empty to the latest, and again with nothing to do', async () => {
    const fresh = openDb(':memory:');
    db = fresh;
    expect(await migrateToLatest(fresh.kysely)).toEqual(names);
    expect(await migrateToLatest(fresh.kysely)).toEqual([]);
    expect(fresh.sqlite.pragma('foreign_keys', { simple: true })).toBe(1);
  });

  it('roll back together when one fails half-way: no table of this start, no record, and the next start begins again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jamjet-migrations-'));
    try {
      writeFileSync(join(dir, '001_first.ts'), "import { sql } from 'kysely';\nexport async function up(db) { await sql`CREATE TABLE first (id INTEGER)`.execute(db); }\n");
      writeFileSync(
        join(dir, '002_half.ts'),
        "import { sql } from 'kysely';\nexport async function up(db) { await sql`CREATE TABLE half (id INTEGER)`.execute(db); await sql`CREATE TABLE first (id INTEGER)`.execute(db); }\n",
      );
      db = openDb(':memory:');
      await expect(migrateToLatest(db.kysely, dir)).rejects.toThrow(/^Migration 002_half failed: .*first.* already exists/);
      expect(objects()).toEqual([]);
      expect((await db.raw("SELECT count(*) AS n FROM sqlite_master WHERE name = 'kysely_migration'"))[0]).toEqual({ n: 0 });
      expect(db.sqlite.inTransaction).toBe(false);
      // Fixed (under a new name: a module once imported stays as it was), the same database migrates from the first one.
      rmSync(join(dir, '002_half.ts'));
      writeFileSync(join(dir, '002_whole.ts'), "import { sql } from 'kysely';\nexport async function up(db) { await sql`CREATE TABLE half (id INTEGER)`.execute(db); }\n");
      expect(await migrateToLatest(db.kysely, dir)).toEqual(['001_first', '002_whole']);
      expect(objects().sort()).toEqual(['first', 'half']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
