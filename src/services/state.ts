/**
 * What an operator watches: the job backlog and the approvals waiting for
 * someone. Read when Prometheus scrapes, so it costs nothing otherwise.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.ts';

export interface PendingJobs {
  readonly kind: string;
  /** Pending and due now (`run_at <= at`). */
  readonly due: number;
  /** Pending, due now or later. */
  readonly pending: number;
  /** The earliest `run_at` (epoch ms) of the due ones; null when none is due. */
  readonly oldestDueAt: number | null;
}

export interface OperationalState {
  readonly jobs: readonly PendingJobs[];
  readonly pendingApprovals: number;
  /** Epoch ms the state was read at. */
  readonly at: number;
}

/** Pending jobs per kind and pending approval requests, as of `at` (epoch ms). */
export function operationalState(db: Db, at: number): OperationalState {
  const jobs = db.all(
    db.q
      .selectFrom('jobs')
      .select((eb) => [
        'kind',
        eb.fn.countAll<number>().as('pending'),
        sql<number>`sum(case when run_at <= ${at} then 1 else 0 end)`.as('due'),
        sql<number | null>`min(case when run_at <= ${at} then run_at end)`.as('oldest_due_at'),
      ])
      .where('status', '=', 'pending')
      .groupBy('kind'),
  );
  const approvals = db.get(
    db.q.selectFrom('approvals').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'pending'),
  );
  return {
    jobs: jobs.map((j) => ({ kind: j.kind, due: Number(j.due), pending: Number(j.pending), oldestDueAt: j.oldest_due_at })),
    pendingApprovals: Number(approvals?.n ?? 0),
    at,
  };
}
