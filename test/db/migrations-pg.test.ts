import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Migrator, NO_MIGRATIONS, sql, type Kysely, type Migration } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { freshPostgres, type TestPostgres } from '../helpers/postgres.ts';

const folder = fileURLToPath(new URL('../../migrations/', import.meta.url));
const names = readdirSync(folder)
  .filter((f) => /^\d{3}_.+\.ts$/.test(f))
  .sort()
  .map((f) => f.replace(/\.ts$/, ''));

/**
 * Everything each migration adds on PostgreSQL, as the catalog names it:
 * tables, indexes (with those PostgreSQL makes for keys), sequences, triggers
 * and functions.
 */
const ADDS: Record<string, string[]> = {
  '001_foundation': [
    'function audit_events_append_only',
    'index audit_events_hash_key',
    'index audit_events_pkey',
    'index audit_events_project',
    'index memberships_pk',
    'index memberships_user',
    'index pending_invites_email',
    'index pending_invites_pkey',
    'index pending_invites_project_email',
    'index projects_live_name',
    'index projects_pkey',
    'sequence audit_events_id_seq',
    'sequence pending_invites_id_seq',
    'sequence projects_id_seq',
    'table audit_events',
    'table memberships',
    'table pending_invites',
    'table projects',
    'trigger audit_events_no_delete',
    'trigger audit_events_no_truncate',
    'trigger audit_events_no_update',
  ],
  '002_keys_rotations_jobs': [
    'index api_keys_hash_key',
    'index api_keys_pkey',
    'index api_keys_project',
    'index api_keys_public_id_key',
    'index github_targets_live',
    'index github_targets_pkey',
    'index jobs_due',
    'index jobs_leased',
    'index jobs_pkey',
    'index key_deliveries_pkey',
    'index rotation_targets_pk',
    'index rotations_one_open',
    'index rotations_pkey',
    'sequence api_keys_id_seq',
    'sequence github_targets_id_seq',
    'sequence jobs_id_seq',
    'sequence rotations_id_seq',
    'table api_keys',
    'table github_targets',
    'table jobs',
    'table key_deliveries',
    'table rotation_targets',
    'table rotations',
  ],
  '003_approvals': [
    'index approval_cards_pk',
    'index approvals_pending',
    'index approvals_pkey',
    'table approval_cards',
    'table approvals',
  ],
  '004_jobs_finished_index': [
    'index jobs_finished',
  ],
  '005_audit_chain_guard': [
    'function audit_events_chain',
    'index audit_events_one_successor',
    'trigger audit_events_chain',
  ],
  '006_github_authority': [
    'index github_connections_pkey',
    'index github_device_flows_open',
    'index github_device_flows_pkey',
    'index github_written_secrets_pkey',
    'sequence github_device_flows_id_seq',
    'table github_connections',
    'table github_device_flows',
    'table github_written_secrets',
  ],
  '007_bounds': [
    'index approvals_pending_key',
    'index pending_invites_project',
    'index projects_live_creator',
  ],
  '008_slack_requests_seen': [
    'index slack_requests_seen_expiry',
    'index slack_requests_seen_pkey',
    'table slack_requests_seen',
  ],
  '009_slack_pauses': [
    'index slack_pauses_pkey',
    'table slack_pauses',
  ],
  '010_change_notices': [
    'function jamjet_announce_change',
    'trigger api_keys_changes',
    'trigger approval_cards_changes',
    'trigger approvals_changes',
    'trigger audit_events_changes',
    'trigger github_connections_changes',
    'trigger github_device_flows_changes',
    'trigger github_targets_changes',
    'trigger github_written_secrets_changes',
    'trigger jobs_changes',
    'trigger key_deliveries_changes',
    'trigger memberships_changes',
    'trigger pending_invites_changes',
    'trigger projects_changes',
    'trigger rotation_targets_changes',
    'trigger rotations_changes',
    'trigger slack_pauses_changes',
  ],
  '011_membership_order': [
    'sequence memberships_seq_seq',
  ],
  // No change trigger: written on every SDK request, read by no cached value.
  '012_api_rate_buckets': [
    'index api_rate_buckets_pkey',
    'table api_rate_buckets',
  ],
  // No change trigger either: written on every post to Slack.
  '013_slack_slots': [
    'index slack_slot_holds_pk',
    'index slack_slot_holds_slot',
    'index slack_slots_pkey',
    'table slack_slot_holds',
    'table slack_slots',
  ],
  // Read through Db.cached (the SDK API's rule sync), so replicas must hear of its changes.
  '014_policy_rules': [
    'index policy_rules_pkey',
    'index policy_rules_project',
    'index policy_rules_public_id_key',
    'sequence policy_rules_id_seq',
    'table policy_rules',
    'trigger policy_rules_changes',
  ],
  // No change trigger: written on every SDK push of decisions, read by no cached value.
  '015_policy_events': [
    'index jobs_pending_kind',
    'index policy_events_pkey',
    'index policy_events_project',
    'index policy_events_unannounced',
    'sequence policy_events_id_seq',
    'table policy_events',
  ],
  '016_approval_quorum': [
    'index approval_votes_pk',
    'table approval_votes',
    'trigger approval_votes_changes',
  ],
  // Recreates api_rate_buckets with a bucket per route: the same names.
  '017_rate_bucket_routes': [],
  // A column of projects, which has its change trigger since 010: nothing new by name.
  '018_channel_refusal_told': [],
};

const GENESIS = '0'.repeat(64);

let database: TestPostgres | undefined;
afterEach(async () => {
  await database?.drop();
  database = undefined;
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run on an untyped schema
async function objects(db: Kysely<any>): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    SELECT CASE c.relkind WHEN 'r' THEN 'table ' WHEN 'i' THEN 'index ' ELSE 'sequence ' END || c.relname AS name
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i', 'S') AND c.relname NOT LIKE 'kysely_%'
    UNION ALL SELECT 'trigger ' || t.tgname FROM pg_trigger t WHERE NOT t.tgisinternal
    UNION ALL SELECT 'function ' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'`.execute(db);
  return rows.map((r) => r.name).sort();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
function migrator(db: Kysely<any>): Migrator {
  return new Migrator({
    db,
    provider: {
      getMigrations: async () =>
        Object.fromEntries(await Promise.all(names.map(async (n) => [n, (await import(`${folder}${n}.ts`)) as Migration] as const))),
    },
  });
}

/** Runs `text` on its own connection and returns PostgreSQL's error message, or undefined when it succeeded. */
async function refusal(url: string, text: string, values: unknown[] = []): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text, values);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end();
  }
}

const insertEvent = 'INSERT INTO audit_events (actor, action, created_at, prev_hash, hash) VALUES ($1, $2, $3, $4, $5)';

describe('migrations on PostgreSQL', () => {
  it('are all described here', () => {
    expect(names).toEqual(Object.keys(ADDS));
  });

  it('each applies on top of the ones before it, adds what it says, rolls back to exactly what was there, and all roll back to nothing', async () => {
    database = await freshPostgres();
    const db = database.kysely();
    const m = migrator(db);
    expect(await objects(db)).toEqual([]);
    for (const [index, name] of names.entries()) {
      const before = await objects(db);
      const up = await m.migrateTo(name);
      expect(up.error, name).toBeUndefined();
      const added = (await objects(db)).filter((o) => !before.includes(o));
      expect(added, name).toEqual([...ADDS[name]!].sort());
      expect((await m.migrateTo(index > 0 ? names[index - 1]! : NO_MIGRATIONS)).error, name).toBeUndefined();
      expect(await objects(db), name).toEqual(before);
      expect((await m.migrateTo(name)).error, name).toBeUndefined();
    }
    expect((await m.migrateTo(NO_MIGRATIONS)).error).toBeUndefined();
    expect(await objects(db)).toEqual([]);
  });

  it('keep epoch milliseconds and ids in 64-bit columns and bytes in bytea', async () => {
    database = await freshPostgres();
    const db = database.kysely();
    await migrateToLatest(db);
    const { rows } = await sql<{ table_name: string; column_name: string; data_type: string }>`
      SELECT table_name, column_name, data_type FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name NOT LIKE 'kysely_%'`.execute(db);
    const type = (table: string, column: string) => rows.find((r) => r.table_name === table && r.column_name === column)?.data_type;
    expect(type('approvals', 'expires_at')).toBe('bigint');
    expect(type('slack_pauses', 'until')).toBe('bigint');
    expect(type('slack_requests_seen', 'expires_at')).toBe('bigint');
    expect(type('api_rate_buckets', 'at')).toBe('bigint');
    expect(type('api_rate_buckets', 'tokens')).toBe('double precision');
    expect(type('audit_events', 'id')).toBe('bigint');
    expect(type('github_connections', 'token_sealed')).toBe('bytea');
    expect(rows.filter((r) => r.data_type === 'integer')).toEqual([]);
    // 2^53 - 1: the largest epoch millisecond a JavaScript number holds exactly.
    await sql`INSERT INTO slack_pauses (scope, until) VALUES ('channel:C1', 9007199254740991)`.execute(db);
    const stored = await sql<{ until: string }>`SELECT until::text AS until FROM slack_pauses`.execute(db);
    expect(stored.rows[0]!.until).toBe('9007199254740991');
  });

  it('guard the audit trail: no update, delete or truncate, and every event continues the chain', async () => {
    database = await freshPostgres();
    const db = database.kysely();
    await migrateToLatest(db);
    const url = database.url;
    const at = Date.UTC(2026, 10, 29);

    expect(await refusal(url, insertEvent, ['U1', 'project.create', at, 'f'.repeat(64), 'h1'])).toMatch(/audit events must continue the chain/);
    expect(await refusal(url, insertEvent, ['U1', 'project.create', at, GENESIS, 'h1'])).toBeUndefined();
    expect(await refusal(url, insertEvent, ['U1', 'member.add', at, 'h1', 'h2'])).toBeUndefined();

    expect(await refusal(url, `UPDATE audit_events SET actor = 'U2' WHERE hash = 'h2'`)).toMatch(/audit events are append-only/);
    expect(await refusal(url, `DELETE FROM audit_events WHERE hash = 'h2'`)).toMatch(/audit events are append-only/);
    expect(await refusal(url, 'TRUNCATE audit_events')).toMatch(/audit events are append-only/);
    // A second successor of h1, and one continuing the genesis again.
    expect(await refusal(url, insertEvent, ['U1', 'member.add', at, 'h1', 'h3'])).toMatch(/audit events must continue the chain/);
    expect(await refusal(url, insertEvent, ['U1', 'member.add', at, GENESIS, 'h3'])).toMatch(/audit events must continue the chain/);
    // Taking the place of an earlier event.
    expect(
      await refusal(url, 'INSERT INTO audit_events (id, actor, action, created_at, prev_hash, hash) VALUES (1, $1, $2, $3, $4, $5)', ['U1', 'x', at, 'h2', 'h3']),
    ).toMatch(/audit events must continue the chain|duplicate key/);

    const trail = await sql<{ hash: string; actor: string }>`SELECT hash, actor FROM audit_events ORDER BY id`.execute(db);
    expect(trail.rows).toEqual([
      { hash: 'h1', actor: 'U1' },
      { hash: 'h2', actor: 'U1' },
    ]);
  });

  it('refuse the second of two concurrent events continuing the same one, though neither saw the other', async () => {
    database = await freshPostgres();
    await migrateToLatest(database.kysely());
    const at = Date.UTC(2026, 10, 29);
    const first = new pg.Client({ connectionString: database.url });
    const second = new pg.Client({ connectionString: database.url });
    await Promise.all([first.connect(), second.connect()]);
    try {
      await first.query(insertEvent, ['U1', 'project.create', at, GENESIS, 'h1']);
      await Promise.all([first.query('BEGIN'), second.query('BEGIN')]);
      // Both see h1 as the last event; neither sees the other's uncommitted one.
      await first.query(insertEvent, ['U1', 'a', at, 'h1', 'from-first']);
      const secondPid = (await second.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const racing = second.query(insertEvent, ['U2', 'b', at, 'h1', 'from-second']).then(
        () => undefined,
        (error: Error) => error.message,
      );
      // The second passes the trigger (it cannot see the first's event) and waits on the index.
      for (let waited = 0; ; waited += 10) {
        const { rows } = await first.query<{ wait: string | null }>('SELECT wait_event_type AS wait FROM pg_stat_activity WHERE pid = $1', [secondPid]);
        if (rows[0]?.wait === 'Lock') break;
        if (waited > 5_000) throw new Error('the second insert never waited on the first');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await first.query('COMMIT');
      expect(await racing).toMatch(/audit_events_one_successor/);
      await second.query('ROLLBACK');
    } finally {
      await Promise.all([first.end(), second.end()]);
    }
    const { rows } = await sql<{ hash: string }>`SELECT hash FROM audit_events ORDER BY id`.execute(database.kysely());
    expect(rows.map((r) => r.hash)).toEqual(['h1', 'from-first']);
  });

  it('announce every committed change to every table but the seen Slack requests, the rate buckets, the Slack slots, the reported decisions and the migration records, so no replica remembers a stale value', async () => {
    database = await freshPostgres();
    const db = database.kysely();
    await migrateToLatest(db);
    const { rows } = await sql<{ table: string; triggers: string[] }>`
      SELECT c.relname AS table,
             COALESCE(array_agg(t.tgname::text ORDER BY t.tgname) FILTER (WHERE t.tgname IS NOT NULL), '{}'::text[]) AS triggers
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_trigger t ON t.tgrelid = c.oid AND NOT t.tgisinternal
             AND t.tgfoid = 'jamjet_announce_change'::regproc
             -- statement level (bit 0 clear), after (bit 1 clear), insert 4 + delete 8 + update 16 + truncate 32
             AND t.tgtype & 3 = 0 AND t.tgtype & 60 = 60
       WHERE n.nspname = 'public' AND c.relkind = 'r'
       GROUP BY c.relname ORDER BY c.relname`.execute(db);
    expect(rows.length).toBeGreaterThan(10);
    for (const { table, triggers } of rows) {
      const exempt = table === 'slack_requests_seen' || table === 'api_rate_buckets' || table === 'slack_slots' || table === 'slack_slot_holds' || table === 'policy_events' || table.startsWith('kysely_migration');
      expect(triggers, table).toEqual(exempt ? [] : [`${table}_changes`]);
    }

    const listener = new pg.Client({ connectionString: database.url });
    await listener.connect();
    try {
      const heard: string[] = [];
      listener.on('notification', (n) => heard.push(`${n.channel}:${n.payload ?? ''}`));
      await listener.query('LISTEN jamjet_changes');
      const writer = new pg.Client({ connectionString: database.url });
      await writer.connect();
      try {
        // Rolled back: nothing announced. Committed with three statements: one notice.
        await writer.query('BEGIN');
        await writer.query(`INSERT INTO slack_pauses (scope, until) VALUES ('channel:C9', 1)`);
        await writer.query('ROLLBACK');
        await writer.query(`INSERT INTO slack_requests_seen (signature, expires_at) VALUES ('v0=1', 1)`);
        await writer.query('BEGIN');
        await writer.query(`INSERT INTO slack_pauses (scope, until) VALUES ('channel:C1', 1)`);
        await writer.query(`UPDATE slack_pauses SET until = 2`);
        await writer.query(`DELETE FROM slack_pauses`);
        await writer.query('COMMIT');
      } finally {
        await writer.end();
      }
      for (let waited = 0; heard.length === 0 && waited < 2_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
      // PostgreSQL hands a session the notices waiting for it before it answers: any second one is heard by now.
      await listener.query('SELECT 1');
      expect(heard).toEqual(['jamjet_changes:']);
    } finally {
      await listener.end();
    }
  });

  it('are applied once when three replicas start at the same moment on an empty database', async () => {
    database = await freshPostgres();
    const replicas = [database.kysely(2), database.kysely(2), database.kysely(2)];
    const applied = await Promise.all(replicas.map((db) => migrateToLatest(db)));
    expect(applied.flat().sort()).toEqual(names);
    const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(replicas[0]!);
    expect(rows.map((r) => r.name)).toEqual(names);
    for (const db of replicas) expect(await migrateToLatest(db)).toEqual([]);
    expect(await objects(replicas[1]!)).toEqual(Object.values(ADDS).flat().sort());
  });
});
