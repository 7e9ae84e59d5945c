/**
 * The SDK API's rate buckets on the engine under test: one statement per
 * take, shared by every `Db` (replica) on the same database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../src/db/database.ts';
import { openPostgres, PostgresDb } from '../../src/db/postgres.ts';
import { findLiveProject } from '../../src/services/access.ts';
import { issueKey, revokeKey } from '../../src/services/keys.ts';
import { createProjects } from '../../src/services/projects.ts';
import { takeRateToken, type RateLimit } from '../../src/services/rate-limits.ts';
import { APPROVALS_RATE_LIMIT, POLICY_EVENTS_RATE_LIMIT } from '../../src/api/rate-limit.ts';
import { JobQueue } from '../../src/jobs/queue.ts';
import { createLogger } from '../../src/logger.ts';
import { testSqliteDb, user } from '../helpers/db.ts';
import { freshDatabaseUrl, TEST_ENGINE } from '../helpers/engine.ts';

/** Resolves once `db` has heard every change committed so far (a round trip on PostgreSQL's listening connection; nothing to wait for on SQLite). */
const settled = async (db: Db) => {
  if (db instanceof PostgresDb) await db.settled();
};

const START = Date.UTC(2026, 10, 29, 12, 0, 0);
const owner = user('UOWNER');

let opened: Db[] = [];
let folder: string | undefined;
afterEach(async () => {
  await Promise.all(opened.map((db) => db.close()));
  opened = [];
  if (folder) rmSync(folder, { recursive: true, force: true });
  folder = undefined;
});

/**
 * `count` replicas on one fresh, migrated database of the engine under test
 * (SQLite: connections to one file; PostgreSQL: pools on one URL), and the
 * ids of two API keys of a project made through the first.
 */
async function replicas(count: number): Promise<{ dbs: Db[]; keys: [number, number] }> {
  const dbs: Db[] = [];
  if (TEST_ENGINE === 'sqlite') {
    folder = mkdtempSync(join(tmpdir(), 'jamjet-rate-'));
    const file = join(folder, 'jamjet.db');
    dbs.push(await testSqliteDb(file));
    while (dbs.length < count) dbs.push(openDb(file));
  } else {
    const url = await freshDatabaseUrl();
    while (dbs.length < count) dbs.push(await openPostgres(url, { poolSize: 4 }));
  }
  opened.push(...dbs);
  const db = dbs[0]!;
  const now = () => START;
  await createProjects({ db, now, jobs: new JobQueue(db, now, createLogger('error', () => {})) }, owner, 'payments', null);
  const project = (await findLiveProject(db, 'payments'))!;
  const first = await issueKey(db, START, project, 'ci', owner.userId);
  const second = await issueKey(db, START, project, 'nightly', owner.userId);
  return { dbs, keys: [first.key.id, second.key.id] };
}

async function takes(db: Db, limit: RateLimit, keyId: number, at: number, n: number): Promise<number[]> {
  const waits: number[] = [];
  for (let i = 0; i < n; i++) waits.push(await takeRateToken(db, limit, keyId, at));
  return waits;
}

const bucket = async (db: Db, keyId: number) =>
  (await db.raw<{ tokens: number; at: number }>('SELECT tokens, at FROM api_rate_buckets WHERE key_id = ?', [keyId]))[0];

describe('the rate bucket of an API key', () => {
  it('grants the burst at once, then refuses with the seconds until the next token', async () => {
    const { dbs, keys } = await replicas(1);
    const db = dbs[0]!;
    const waits = await takes(db, APPROVALS_RATE_LIMIT, keys[0], START, 23);
    expect(waits.slice(0, 20)).toEqual(Array(20).fill(0));
    // 5 tokens a second: the next one is 0.2 s away, told as 1 whole second.
    expect(waits.slice(20)).toEqual([1, 1, 1]);
    // A slow limit: 2 at once, then one every 4 s.
    const slow = { bucket: 'slow', burst: 2, perSecond: 0.25 };
    expect(await takes(db, slow, keys[1], START, 3)).toEqual([0, 0, 4]);
    // A second later a quarter token is there: 3 s to go; refusals take nothing.
    expect(await takes(db, slow, keys[1], START + 1_000, 2)).toEqual([3, 3]);
    expect(await takes(db, slow, keys[1], START + 3_500, 1)).toEqual([1]);
    expect(await takes(db, slow, keys[1], START + 4_000, 2)).toEqual([0, 4]);
  });

  it('refills by the time elapsed, never beyond the burst, each key on its own', async () => {
    const { dbs, keys } = await replicas(1);
    const db = dbs[0]!;
    await takes(db, APPROVALS_RATE_LIMIT, keys[0], START, 20);
    expect(await takes(db, APPROVALS_RATE_LIMIT, keys[0], START + 100, 1)).toEqual([1]);
    expect(await takes(db, APPROVALS_RATE_LIMIT, keys[0], START + 200, 2)).toEqual([0, 1]);
    // One second: 5 more.
    const second = await takes(db, APPROVALS_RATE_LIMIT, keys[0], START + 1_200, 6);
    expect(second).toEqual([0, 0, 0, 0, 0, 1]);
    // An hour idle fills the bucket to 20, not 18,000.
    const hour = await takes(db, APPROVALS_RATE_LIMIT, keys[0], START + 3_600_000, 21);
    expect(hour.filter((w) => w === 0)).toHaveLength(20);
    expect(hour[20]).toBe(1);
    // The other key's bucket was never touched.
    expect(await takes(db, APPROVALS_RATE_LIMIT, keys[1], START, 20)).toEqual(Array(20).fill(0));
  });

  it('refills nothing for a replica whose clock is behind, and never moves the bucket back in time', async () => {
    const { dbs, keys } = await replicas(2);
    const [ahead, behind] = dbs as [Db, Db];
    await takes(ahead, APPROVALS_RATE_LIMIT, keys[0], START, 20);
    expect(await takes(behind, APPROVALS_RATE_LIMIT, keys[0], START - 5_000, 1)).toEqual([1]);
    expect((await bucket(ahead, keys[0]))!.at).toBe(START);
    // Had the bucket gone back 5 s, this would find 26 tokens' worth of time.
    const later = await takes(ahead, APPROVALS_RATE_LIMIT, keys[0], START + 400, 3);
    expect(later).toEqual([0, 0, 1]);
  });

  it('never grants more than the bucket holds when two replicas take at the same moment', async () => {
    const { dbs, keys } = await replicas(2);
    const racing = (at: number, each: number) =>
      Promise.all(dbs.flatMap((db) => Array.from({ length: each }, () => takeRateToken(db, APPROVALS_RATE_LIMIT, keys[0], at))));
    const first = await racing(START, 25);
    expect(first.filter((w) => w === 0)).toHaveLength(20);
    expect(first.filter((w) => w === 1)).toHaveLength(30);
    // Two seconds later: exactly 10 tokens are back, however the takes interleave.
    const again = await racing(START + 2_000, 15);
    expect(again.filter((w) => w === 0)).toHaveLength(10);
    expect((await bucket(dbs[1]!, keys[0]))!.tokens).toBeCloseTo(0, 9);
    // Many keys at once: each bucket on its own.
    const both = await Promise.all(
      keys.flatMap((key) => dbs.flatMap((db) => Array.from({ length: 12 }, () => takeRateToken(db, APPROVALS_RATE_LIMIT, key, START + 2_000)))),
    );
    expect(both.slice(0, 24).filter((w) => w === 0)).toHaveLength(0);
    expect(both.slice(24).filter((w) => w === 0)).toHaveLength(20);
  });

  it('keeps what every replica remembers: a take is not a change any cached read depends on', async () => {
    const { dbs, keys } = await replicas(2);
    const [a, b] = dbs as [Db, Db];
    let computed = 0;
    const read = () => a.cached('projects', async () => ++computed);
    // The notices of the setup's own writes reach the PostgreSQL listener a moment after they commit: wait until heard.
    await settled(a);
    await read();
    await takeRateToken(a, APPROVALS_RATE_LIMIT, keys[0], START);
    await read();
    expect(computed).toBe(1);
    if (TEST_ENGINE === 'postgres') {
      // No change notice either: another replica's take leaves this one's memory alone.
      await takeRateToken(b, APPROVALS_RATE_LIMIT, keys[0], START);
      // Any notice of that take has reached a once its listener answers.
      await settled(a);
      await read();
      expect(computed).toBe(1);
    }
    // (On SQLite any commit by another connection moves PRAGMA data_version: there the
    // engine cannot tell which table another process wrote, and forgets.)
    // A real change still is one.
    await b.raw('UPDATE projects SET approvals_channel = ? WHERE name = ?', ['C0CHANGED', 'payments']);
    for (let waited = 0; computed === 1 && waited < 2_000; waited += 20) {
      await read();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(computed).toBe(2);
  });

  it('keeps one bucket per route: a flood of decision pushes leaves the same key its approval requests', async () => {
    const { dbs, keys } = await replicas(1);
    const db = dbs[0]!;
    const pushes = await takes(db, POLICY_EVENTS_RATE_LIMIT, keys[0], START, POLICY_EVENTS_RATE_LIMIT.burst + 1);
    expect(pushes.slice(0, -1).every((w) => w === 0)).toBe(true);
    expect(pushes.at(-1)).toBe(1);
    expect(await takes(db, APPROVALS_RATE_LIMIT, keys[0], START, 20)).toEqual(Array(20).fill(0));
    // And the other way round: approvals spent, pushes still go ahead.
    expect(await takes(db, APPROVALS_RATE_LIMIT, keys[0], START, 1)).toEqual([1]);
    expect(await takes(db, POLICY_EVENTS_RATE_LIMIT, keys[0], START + 1_000, 1)).toEqual([0]);
    const rows = await db.raw<{ bucket: string }>('SELECT bucket FROM api_rate_buckets WHERE key_id = ? ORDER BY bucket', [keys[0]]);
    expect(rows.map((r) => r.bucket)).toEqual(['approvals', 'policy_events']);
  });

  it('keeps the bucket of a revoked key, one row per key, and refuses writes to other tables', async () => {
    const { dbs, keys } = await replicas(1);
    const db = dbs[0]!;
    await takes(db, APPROVALS_RATE_LIMIT, keys[0], START, 50);
    const now = () => START;
    const ctx = { db, now, jobs: new JobQueue(db, now, createLogger('error', () => {})) };
    const publicId = (await db.raw<{ public_id: string }>('SELECT public_id FROM api_keys WHERE id = ?', [keys[0]]))[0]!.public_id;
    expect((await revokeKey(ctx, owner, 'payments', publicId)).ok).toBe(true);
    expect(await db.raw('SELECT key_id FROM api_rate_buckets')).toEqual([{ key_id: keys[0] }]);
    await expect(takeRateToken(db, APPROVALS_RATE_LIMIT, 999_999, START)).rejects.toThrow();
    await expect(
      db.getUncached(db.q.insertInto('slack_pauses').values({ scope: 'channel:C1', until: 1 }).returning('scope')),
    ).rejects.toThrow(/only for slack_requests_seen, api_rate_buckets/);
    expect(await db.raw('SELECT scope FROM slack_pauses')).toEqual([]);
  });
});
