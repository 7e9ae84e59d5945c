/**
 * What an operator watches: the job backlog and the approvals waiting for
 * someone. Read when Prometheus scrapes, so it costs nothing otherwise.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.ts';

/**
 * A literal, not a bound parameter, so SQLite plans with the partial indexes
 * on pending rows from the start (measured with a million pending jobs:
 * about 25 ms a scrape instead of 60 to 300 ms).
 */
const PENDING = sql.lit<'pending'>('pending');

export interface DueJobs {
  readonly kind: string;
  /** Pending and due now (`run_at <= at`). */
  readonly due: number;
  /** The earliest `run_at` (epoch ms) of them. */
  readonly oldestDueAt: number;
}

export interface OperationalState {
  /** Due jobs per kind, by kind; kinds with none due are left out. */
  readonly jobs: readonly DueJobs[];
  /** Pending jobs, due now or later (reminders, expiries). */
  readonly pendingJobs: number;
  readonly pendingApprovals: number;
  /** Epoch ms the state was read at. */
  readonly at: number;
}

/**
 * Due jobs per kind, pending jobs and pending approval requests, as of `at`
 * (epoch ms). The due jobs are a range of the pending-jobs index, so a long
 * schedule of future reminders costs the scrape nothing; the two counts
 * walk their partial indexes (about 20 ms per million pending jobs).
 */
export async function operationalState(db: Db, at: number): Promise<OperationalState> {
  const due = await db.all(
    db.q
      .selectFrom('jobs')
      .select((eb) => ['kind', eb.fn.countAll<number>().as('due'), eb.fn.min<number>('run_at').as('oldest_due_at')])
      .where('status', '=', PENDING)
      .where('run_at', '<=', at)
      .groupBy('kind')
      // SQLite happens to return groups sorted, PostgreSQL in any order: say it, so both engines answer the same.
      .orderBy('kind'),
  );
  const pending = await db.get(db.q.selectFrom('jobs').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', PENDING));
  const approvals = await db.get(
    db.q.selectFrom('approvals').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', PENDING),
  );
  return {
    jobs: due.map((j) => ({ kind: j.kind, due: Number(j.due), oldestDueAt: Number(j.oldest_due_at) })),
    pendingJobs: Number(pending?.n ?? 0),
    pendingApprovals: Number(approvals?.n ?? 0),
    at,
  };
}
