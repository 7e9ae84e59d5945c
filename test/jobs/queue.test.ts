import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../src/db/database.ts';
import { backoffMs, JOB_LEASE_MS, JobQueue, RetryLater, type Job } from '../../src/jobs/queue.ts';
import { createLogger } from '../../src/logger.ts';
import { testContext, testSqliteDb } from '../helpers/db.ts';

const silent = createLogger('error', () => {});
const LEASE_MS = JOB_LEASE_MS;

let ctx: Awaited<ReturnType<typeof testContext>>;
beforeEach(async () => {
  ctx = await testContext();
});
afterEach(async () => {
  await ctx.db.close();
});

type JobRow = { status: string; attempts: number; run_at: number; locked_by: string | null; last_error: string | null; finished_at: number | null };
const jobRow = async (id: number) =>
  (await ctx.db.raw('SELECT status, attempts, run_at, locked_by, last_error, finished_at FROM jobs WHERE id = ?', [id]))[0] as JobRow;

/** A handler that remembers each run, and fails when `fail` says so. */
function recorder(fail: (job: Job) => Error | null = () => null) {
  const runs: { id: number; attempts: number; at: number }[] = [];
  const handler = async (job: Job) => {
    runs.push({ id: job.id, attempts: job.attempts, at: ctx.now() });
    const error = fail(job);
    if (error) throw error;
  };
  return { runs, handler };
}

describe('running due jobs', () => {
  it('runs a due job once and lets a future one wait', async () => {
    const { runs, handler } = recorder();
    ctx.queue.register('ping', handler);
    const due = await ctx.queue.enqueue('ping', { n: 1 }, ctx.now());
    const later = await ctx.queue.enqueue('ping', { n: 2 }, ctx.now() + 60_000);

    expect(await ctx.queue.runDue()).toBe(1);
    expect(runs.map((r) => r.id)).toEqual([due]);
    expect(await jobRow(due)).toMatchObject({ status: 'done', attempts: 1, locked_by: null, finished_at: ctx.now() });
    expect(await jobRow(later)).toMatchObject({ status: 'pending', attempts: 0 });
    expect(await ctx.queue.runDue()).toBe(0);

    ctx.advance(59_999);
    expect(await ctx.queue.runDue()).toBe(0);
    ctx.advance(1);
    expect(await ctx.queue.runDue()).toBe(1);
    expect(runs.map((r) => r.id)).toEqual([due, later]);
    expect(await ctx.queue.runDue()).toBe(0);
  });

  it('hands the handler its payload', async () => {
    const seen: unknown[] = [];
    ctx.queue.register('ping', async (job) => void seen.push(job.payload));
    await ctx.queue.enqueue('ping', { rotation: 7, remindAt: 123 }, ctx.now());
    await ctx.queue.runDue();
    expect(seen).toEqual([{ rotation: 7, remindAt: 123 }]);
  });

  it('runs overdue jobs oldest first', async () => {
    const order: unknown[] = [];
    ctx.queue.register('ping', async (job) => void order.push(job.payload.n));
    await ctx.queue.enqueue('ping', { n: 'b' }, ctx.now() - 1000);
    await ctx.queue.enqueue('ping', { n: 'c' }, ctx.now());
    await ctx.queue.enqueue('ping', { n: 'a' }, ctx.now() - 5000);
    expect(await ctx.queue.runDue()).toBe(3);
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('drains more than one batch in a run', async () => {
    const queue = new JobQueue(ctx.db, ctx.now, silent, { batchSize: 3 });
    const { runs, handler } = recorder();
    queue.register('ping', handler);
    for (let n = 0; n < 7; n++) await queue.enqueue('ping', { n }, ctx.now());
    expect(await queue.runDue()).toBe(7);
    expect(new Set(runs.map((r) => r.id)).size).toBe(7);
  });

  it('lets concurrent runDue calls share one run', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const calls = new Map<number, number>();
    ctx.queue.register('ping', async (job) => {
      calls.set(job.id, (calls.get(job.id) ?? 0) + 1);
      await gate;
    });
    const ids: number[] = [];
    for (const n of [1, 2, 3]) ids.push(await ctx.queue.enqueue('ping', { n }, ctx.now()));

    const first = ctx.queue.runDue();
    const second = ctx.queue.runDue();
    const third = ctx.queue.runDue();
    release();
    expect(await Promise.all([first, second, third])).toEqual([3, 3, 3]);
    expect([...calls.entries()]).toEqual(ids.map((id) => [id, 1]));
    // The shared run is over: the next call starts a new one.
    expect(await ctx.queue.runDue()).toBe(0);
  });
});

describe('retries', () => {
  it('retries a failing handler with backoff and gives up after maxAttempts', async () => {
    const queue = new JobQueue(ctx.db, ctx.now, silent, { maxAttempts: 3 });
    const { runs, handler } = recorder(() => new Error('Slack said no'));
    queue.register('ping', handler);
    const start = ctx.now();
    const id = await queue.enqueue('ping', {}, start);

    expect(await queue.runDue()).toBe(1);
    expect(await jobRow(id)).toMatchObject({ status: 'pending', attempts: 1, run_at: start + 15_000, locked_by: null, last_error: 'Slack said no' });

    ctx.advance(14_999);
    expect(await queue.runDue()).toBe(0);
    ctx.advance(1);
    expect(await queue.runDue()).toBe(1);
    expect(await jobRow(id)).toMatchObject({ status: 'pending', attempts: 2, run_at: start + 15_000 + 30_000 });

    ctx.advance(30_000);
    expect(await queue.runDue()).toBe(1);
    expect(await jobRow(id)).toMatchObject({ status: 'dead', attempts: 3, last_error: 'Slack said no', finished_at: ctx.now(), locked_by: null });

    ctx.advance(24 * 3600_000);
    expect(await queue.runDue()).toBe(0);
    expect(runs.map((r) => [r.attempts, r.at - start])).toEqual([
      [1, 0],
      [2, 15_000],
      [3, 45_000],
    ]);
  });

  it('doubles the backoff up to one hour', () => {
    expect([1, 2, 3, 4, 5, 8, 9, 20].map(backoffMs)).toEqual([15_000, 30_000, 60_000, 120_000, 240_000, 1_920_000, 3_600_000, 3_600_000]);
  });

  it('succeeds on a later attempt and stays done', async () => {
    const { runs, handler } = recorder((job) => (job.attempts < 2 ? new Error('flaky') : null));
    ctx.queue.register('ping', handler);
    const id = await ctx.queue.enqueue('ping', {}, ctx.now());
    await ctx.queue.runDue();
    ctx.advance(15_000);
    expect(await ctx.queue.runDue()).toBe(1);
    expect(await jobRow(id)).toMatchObject({ status: 'done', attempts: 2, last_error: null });
    ctx.advance(3600_000);
    expect(await ctx.queue.runDue()).toBe(0);
    expect(runs).toHaveLength(2);
  });

  it('waits for RetryLater.retryAfterMs instead of the backoff, without using up an attempt', async () => {
    let calls = 0;
    ctx.queue.register('ping', recorder(() => (++calls === 1 ? new RetryLater('rate limited', 120_000) : null)).handler);
    const start = ctx.now();
    const id = await ctx.queue.enqueue('ping', {}, start);
    await ctx.queue.runDue();
    expect(await jobRow(id)).toMatchObject({ status: 'pending', run_at: start + 120_000, last_error: 'rate limited', attempts: 0 });
    ctx.advance(15_000);
    expect(await ctx.queue.runDue()).toBe(0);
    ctx.advance(105_000);
    expect(await ctx.queue.runDue()).toBe(1);
    expect((await jobRow(id)).status).toBe('done');
  });

  it('gives up at once on a job nobody handles', async () => {
    const id = await ctx.queue.enqueue('unknown.kind', {}, ctx.now());
    expect(await ctx.queue.runDue()).toBe(1);
    expect(await jobRow(id)).toMatchObject({ status: 'dead', attempts: 1, last_error: 'no handler for job kind unknown.kind' });
  });
});

describe('workers', () => {
  it('takes a job back from a worker that died holding it, and runs it once', async () => {
    const dead = new JobQueue(ctx.db, ctx.now, silent);
    const id = await ctx.queue.enqueue('ping', {}, ctx.now());
    expect((await dead.claimDue()).map((j) => j.id)).toEqual([id]);
    expect(await jobRow(id)).toMatchObject({ status: 'running', locked_by: dead.workerId });

    const { runs, handler } = recorder();
    ctx.queue.register('ping', handler);
    expect(await ctx.queue.runDue()).toBe(0);
    ctx.advance(LEASE_MS);
    expect(await ctx.queue.runDue()).toBe(0);
    ctx.advance(1);
    expect(await ctx.queue.runDue()).toBe(1);
    expect(runs).toEqual([{ id, attempts: 2, at: ctx.now() }]);
    expect(await jobRow(id)).toMatchObject({ status: 'done', locked_by: null });

    ctx.advance(LEASE_MS * 3);
    expect(await ctx.queue.runDue()).toBe(0);
    expect(await dead.claimDue()).toEqual([]);
  });

  describe('two workers on one database file', () => {
    let dir: string;
    let dbs: Db[];
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'jamjet-jobs-'));
      dbs = [];
    });
    afterEach(async () => {
      for (const db of dbs) await db.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('never hands the same job to both when they claim in turn', async () => {
      const file = join(dir, 'jobs.db');
      const one = await testSqliteDb(file);
      const two = openDb(file);
      dbs.push(two, one);
      const now = () => 1_000_000;
      const a = new JobQueue(one, now, silent);
      const b = new JobQueue(two, now, silent);
      const ids = new Set<number>();
      for (let n = 0; n < 200; n++) ids.add(await a.enqueue('ping', { n }, now()));

      const claims = new Map<number, string[]>();
      for (let turn = 0; turn < 40; turn++) {
        const worker = turn % 2 === 0 ? a : b;
        for (const job of await worker.claimDue(7)) claims.set(job.id, [...(claims.get(job.id) ?? []), worker.workerId]);
      }
      expect([await a.claimDue(), await b.claimDue()]).toEqual([[], []]);
      expect(claims.size).toBe(200);
      expect([...claims.keys()].every((id) => ids.has(id))).toBe(true);
      expect([...claims.values()].every((by) => by.length === 1)).toBe(true);
      const byA = [...claims.values()].filter(([by]) => by === a.workerId).length;
      expect([byA, 200 - byA]).toEqual([102, 98]); // 15 claims of 7 (the last one 4) against 14 of 7
      const rows = await one.raw('SELECT id, locked_by FROM jobs') as { id: number; locked_by: string }[];
      expect(rows.every((r) => claims.get(r.id)![0] === r.locked_by)).toBe(true);
    });

    it('never hands the same job to two processes claiming at the same time', async () => {
      const file = join(dir, 'jobs.db');
      const db = await testSqliteDb(file);
      dbs.push(db);
      const queue = new JobQueue(db, () => 0, silent);
      await db.transaction(async () => {
        for (let n = 0; n < 1000; n++) await queue.enqueue('ping', { n }, 0);
      });

      const script = fileURLToPath(new URL('./claim-worker.ts', import.meta.url));
      const workers = [0, 1].map(() => {
        const child = spawn(process.execPath, ['--import', 'tsx', script, file], { stdio: ['pipe', 'pipe', 'inherit'] });
        const lines = createInterface({ input: child.stdout });
        const next = () => new Promise<string>((resolve) => lines.once('line', resolve));
        return { child, next, ready: next() };
      });
      expect(await Promise.all(workers.map((w) => w.ready))).toEqual(['ready', 'ready']);
      const results = workers.map((w) => w.next());
      for (const w of workers) w.child.stdin.end('go\n');
      const claims = (await Promise.all(results)).map((line) => (JSON.parse(line) as { claimed: number[] }).claimed);

      const all = claims.flat();
      expect(all).toHaveLength(1000);
      expect(new Set(all).size).toBe(1000);
      // Both really took part, so the claims did race.
      expect(claims.map((c) => c.length > 0)).toEqual([true, true]);
    });
  });

  // A batch is leased at claim time but runs job after job: when it outlasts
  // the lease, another worker takes the rest back, and this one must skip them.
  it('does not run a job whose lease another worker has taken over', async () => {
    const a = new JobQueue(ctx.db, ctx.now, silent);
    const b = new JobQueue(ctx.db, ctx.now, silent);
    const runs = new Map<number, string[]>();
    const note = (id: number, worker: string) => runs.set(id, [...(runs.get(id) ?? []), worker]);
    for (let n = 1; n <= 20; n++) await a.enqueue('post', { n }, ctx.now());
    a.register('post', async (job) => {
      note(job.id, 'A');
      ctx.advance(30_000); // each Slack post takes 30 s
      // The other process's ticker fires once A's lease is over (after 10 posts).
      if (job.payload.n === 11) await b.runDue();
    });
    b.register('post', async (job) => void note(job.id, 'B'));

    await a.runDue();
    expect(runs.size).toBe(20);
    expect([...runs.values()].filter((by) => by.length > 1)).toEqual([]);
  });
});

describe('pruning', () => {
  it('forgets finished jobs after a week and keeps everything else', async () => {
    ctx.queue.register('ping', async () => {});
    const done = await ctx.queue.enqueue('ping', {}, ctx.now());
    const later = await ctx.queue.enqueue('ping', {}, ctx.now() + 30 * 24 * 60 * 60_000);
    await ctx.queue.runDue();
    ctx.advance(7 * 24 * 60 * 60_000 - 1);
    expect(await ctx.queue.prune()).toBe(0);
    ctx.advance(2);
    expect(await ctx.queue.prune()).toBe(1);
    const left = await ctx.db.raw('SELECT id FROM jobs') as { id: number }[];
    expect(left.map((r) => r.id)).not.toContain(done);
    expect(left.map((r) => r.id)).toContain(later);
  });
});
