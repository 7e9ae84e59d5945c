/**
 * The durable job queue: reminders, expiries and Slack posts to retry are
 * rows, claimed atomically when due (one BEGIN IMMEDIATE per claim, so two
 * processes on one database never take the same job), retried with backoff
 * for as long as their work matters (a handler returns once it no longer
 * does), and taken back from a worker that died holding them. A job told to
 * come back soon (Slack's pace) wakes the queue at that moment instead of
 * waiting for the next poll.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { jobRuns } from '../metrics.ts';

export interface Job<P = Record<string, unknown>> {
  readonly id: number;
  readonly kind: string;
  readonly payload: P;
  readonly attempts: number;
  readonly runAt: number;
}

/** A handler throws to ask for a retry; it must not hold secrets in its payload. */
export type JobHandler = (job: Job, queue: JobQueue) => Promise<void>;

/**
 * How long a claimed job stays its worker's without a word from it (ms).
 * A running job's lease is renewed every third of it, so only a worker that
 * died (a replica killed, a machine gone) lets it run out; then any worker
 * takes the job back. Short, so that a dead replica's batch waits a minute,
 * not five.
 */
export const JOB_LEASE_MS = 60_000;

export interface QueueOptions {
  readonly batchSize?: number;
  /** See `JOB_LEASE_MS`. */
  readonly leaseMs?: number;
  /** Unset: a failing job retries (backoff up to an hour) until its handler says the work is over. */
  readonly maxAttempts?: number;
  /** A job due within this many milliseconds wakes the queue by timer rather than waiting for the poll. */
  readonly wakeWithinMs?: number;
}

const BASE_BACKOFF_MS = 15_000;
/** Finished jobs stay a week, for looking into what happened. */
export const FINISHED_JOBS_KEPT_MS = 7 * 24 * 60 * 60_000;
const MAX_BACKOFF_MS = 60 * 60_000;

export function backoffMs(attempts: number): number {
  return Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** Math.max(0, attempts - 1));
}

export class JobQueue {
  readonly workerId = randomUUID();
  private readonly handlers = new Map<string, JobHandler>();
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly maxAttempts: number;
  private readonly wakeWithinMs: number;
  private running: Promise<number> | null = null;
  private again = false;
  private wake: NodeJS.Timeout | null = null;
  private wakeAt = Infinity;
  private closed = false;

  constructor(
    private readonly db: Db,
    private readonly now: () => number,
    private readonly log: Logger,
    options: QueueOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 100;
    this.leaseMs = options.leaseMs ?? JOB_LEASE_MS;
    this.maxAttempts = options.maxAttempts ?? Infinity;
    this.wakeWithinMs = options.wakeWithinMs ?? 60_000;
  }

  /** Stops waking by timer; the poller and explicit runs still work until the database closes. */
  close(): void {
    this.closed = true;
    if (this.wake) clearTimeout(this.wake);
    this.wake = null;
  }

  /** Arms one timer for the earliest pending job due soon, so paced Slack posts go at their moment. */
  private async armWake(): Promise<void> {
    if (this.closed) return;
    const next = await this.db.get(this.db.q.selectFrom('jobs').select((eb) => eb.fn.min('run_at').as('at')).where('status', '=', 'pending'));
    const at = next?.at ?? null;
    if (at === null) return;
    const delay = Math.max(20, at - this.now());
    if (delay > this.wakeWithinMs) return;
    const when = Date.now() + delay;
    if (this.wake && this.wakeAt <= when) return;
    if (this.wake) clearTimeout(this.wake);
    this.wakeAt = when;
    this.wake = setTimeout(() => {
      this.wake = null;
      this.wakeAt = Infinity;
      this.kick();
    }, delay);
    this.wake.unref();
  }

  register(kind: string, handler: JobHandler): void {
    this.handlers.set(kind, handler);
  }

  /** Adds a job; call inside the use case's transaction so the job and the change land together. */
  async enqueue(kind: string, payload: Record<string, unknown>, runAt: number): Promise<number> {
    const row = await this.db.get(
      this.db.q
        .insertInto('jobs')
        .values({
          kind,
          payload: JSON.stringify(payload),
          run_at: runAt,
          status: 'pending',
          created_at: this.now(),
        })
        .returning('id'),
    );
    return row!.id;
  }

  /** Forgets jobs that finished more than `keepMs` ago; returns how many. */
  async prune(keepMs = FINISHED_JOBS_KEPT_MS): Promise<number> {
    const { changes } = await this.db.run(
      this.db.q
        .deleteFrom('jobs')
        .where('status', 'in', ['done', 'dead'])
        .where('finished_at', '<', this.now() - keepMs),
    );
    return changes;
  }

  /** Moves a pending job to another time (snooze). */
  async reschedule(id: number, runAt: number): Promise<void> {
    await this.db.run(this.db.q.updateTable('jobs').set({ run_at: runAt }).where('id', '=', id).where('status', '=', 'pending'));
  }

  /**
   * Takes up to `limit` due jobs for this worker, earliest first; no other
   * worker, in this process or another replica, can take them until the
   * lease ends. SQLite: one write transaction (writers take turns).
   * PostgreSQL: one statement that locks the rows it takes and skips those
   * another replica is taking (`FOR UPDATE SKIP LOCKED`), so replicas claim
   * side by side and never the same job.
   */
  async claimDue(limit = this.batchSize): Promise<Job[]> {
    const at = this.now();
    if (this.db.engine === 'postgres') return this.claimSkippingLocked(at, limit);
    return await this.db.transaction(async () => {
      // Jobs whose worker died mid-run go back to the queue.
      await this.db.run(
        this.db.q
          .updateTable('jobs')
          .set({ status: 'pending', locked_by: null, locked_until: null })
          .where('status', '=', 'running')
          .where('locked_until', '<', at),
      );
      const due = await this.db.all(
        this.db.q
          .selectFrom('jobs')
          .select(['id', 'kind', 'payload', 'attempts', 'run_at'])
          .where('status', '=', 'pending')
          .where('run_at', '<=', at)
          .orderBy('run_at')
          .limit(limit),
      );
      if (due.length === 0) return [];
      await this.db.run(
        this.db.q
          .updateTable('jobs')
          .set({ status: 'running', locked_by: this.workerId, locked_until: at + this.leaseMs, attempts: sql`attempts + 1` })
          .where('id', 'in', due.map((d) => d.id)),
      );
      return due.map((d) => ({
        id: d.id,
        kind: d.kind,
        payload: JSON.parse(d.payload) as Record<string, unknown>,
        attempts: d.attempts + 1,
        runAt: d.run_at,
      }));
    });
  }

  private async claimSkippingLocked(at: number, limit: number): Promise<Job[]> {
    const { db } = this;
    // Jobs whose worker died mid-run go back to the queue (safe to run on every replica at once).
    await db.run(
      db.q
        .updateTable('jobs')
        .set({ status: 'pending', locked_by: null, locked_until: null })
        .where('status', '=', 'running')
        .where('locked_until', '<', at),
    );
    const claimed = await db.all(
      db.q
        .with('due', (q) =>
          q
            .selectFrom('jobs')
            .select('id')
            .where('status', '=', 'pending')
            .where('run_at', '<=', at)
            .orderBy('run_at')
            .orderBy('id')
            .limit(limit)
            .forUpdate()
            .skipLocked(),
        )
        .updateTable('jobs')
        .from('due')
        .set({ status: 'running', locked_by: this.workerId, locked_until: at + this.leaseMs, attempts: sql`jobs.attempts + 1` })
        .whereRef('jobs.id', '=', 'due.id')
        .returning(['jobs.id', 'jobs.kind', 'jobs.payload', 'jobs.attempts', 'jobs.run_at']),
    );
    // RETURNING follows no order: run them earliest first, as SQLite does.
    return claimed
      .sort((a, b) => a.run_at - b.run_at || a.id - b.id)
      .map((d) => ({ id: d.id, kind: d.kind, payload: JSON.parse(d.payload) as Record<string, unknown>, attempts: d.attempts, runAt: d.run_at }));
  }

  /** Runs due jobs soon, without waiting: for work just enqueued that should not wait for the next poll. */
  kick(): void {
    this.runDue().catch((error: unknown) => this.log.error('job run failed', { error }));
  }

  /** Runs every due job once; returns how many ran. Concurrent calls share one run. */
  runDue(): Promise<number> {
    if (this.running) {
      // Jobs may have been added after the current run's last claim: look again when it ends.
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      let ran = 0;
      do {
        this.again = false;
        ran += await this.drain();
      } while (this.again);
      return ran;
    })().finally(async () => {
      this.running = null;
      try {
        await this.armWake();
      } catch (error) {
        this.log.warn('job wake-up not armed', { error });
      }
    });
    return this.running;
  }

  private async drain(): Promise<number> {
    let ran = 0;
    for (;;) {
      const jobs = await this.claimDue();
      for (const job of jobs) {
        await this.runOne(job);
        ran++;
      }
      if (jobs.length < this.batchSize) return ran;
    }
  }

  /**
   * A batch is leased when claimed, but runs one job after another: renew the
   * lease as each job starts, and skip a job whose lease ran out and was taken
   * over by another worker while earlier jobs of the batch were running.
   */
  private async renewLease(job: Job): Promise<boolean> {
    const { changes } = await this.db.run(
      this.db.q
        .updateTable('jobs')
        .set({ locked_until: this.now() + this.leaseMs })
        .where('id', '=', job.id)
        .where('status', '=', 'running')
        .where('locked_by', '=', this.workerId),
    );
    return changes === 1;
  }

  private async runOne(job: Job): Promise<void> {
    if (!(await this.renewLease(job))) return;
    const handler = this.handlers.get(job.kind);
    // A handler may wait on Slack or GitHub longer than the lease: keep it ours while it runs.
    const heartbeat = setInterval(() => {
      this.renewLease(job).catch((error: unknown) => this.log.warn('job lease not renewed', { job: job.id, kind: job.kind, error }));
    }, this.leaseMs / 3);
    heartbeat.unref();
    try {
      if (!handler) throw new Error(`no handler for job kind ${job.kind}`);
      await handler(job, this);
      clearInterval(heartbeat);
      await this.finish(job.id, 'done', null);
      jobRuns.inc({ kind: job.kind, outcome: 'done' });
    } catch (error) {
      clearInterval(heartbeat);
      const message = error instanceof Error ? error.message : String(error);
      const retryAfter = (error as { retryAfterMs?: number }).retryAfterMs;
      if (job.attempts >= this.maxAttempts || !handler) {
        this.log.error('job gave up', { job: job.id, kind: job.kind, attempts: job.attempts, error });
        await this.finish(job.id, 'dead', message);
        jobRuns.inc({ kind: job.kind, outcome: 'dead' });
        return;
      }
      const delay = retryAfter ?? backoffMs(job.attempts);
      if (error instanceof RetryLater) this.log.debug('job waits its turn', { job: job.id, kind: job.kind, inMs: delay, reason: message });
      else this.log.warn('job failed, will retry', { job: job.id, kind: job.kind, attempts: job.attempts, inMs: delay, error });
      // Being told to come back later (Slack's Retry-After) is not a failure:
      // it does not use up an attempt, so a long rate limit delays but never drops.
      const attempts = retryAfter !== undefined ? job.attempts - 1 : job.attempts;
      jobRuns.inc({ kind: job.kind, outcome: retryAfter !== undefined ? 'deferred' : 'retry' });
      await this.db.run(
        this.db.q
          .updateTable('jobs')
          .set({
            status: 'pending',
            attempts,
            run_at: this.now() + delay,
            locked_by: null,
            locked_until: null,
            last_error: message.slice(0, 500),
          })
          .where('id', '=', job.id)
          .where('locked_by', '=', this.workerId),
      );
    }
  }

  private async finish(id: number, status: 'done' | 'dead', error: string | null): Promise<void> {
    await this.db.run(
      this.db.q
        .updateTable('jobs')
        .set({ status, finished_at: this.now(), locked_by: null, locked_until: null, last_error: error?.slice(0, 500) ?? null })
        .where('id', '=', id)
        .where('locked_by', '=', this.workerId),
    );
  }
}

/** Thrown by a handler to be retried after Slack's Retry-After rather than the usual backoff. */
export class RetryLater extends Error {
  constructor(message: string, readonly retryAfterMs: number) {
    super(message);
    this.name = 'RetryLater';
  }
}
