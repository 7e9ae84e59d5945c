/**
 * The load both approvals benchmarks offer (one process on SQLite,
 * `approvals-pg` on replicas sharing PostgreSQL), kept in one place so their
 * numbers stay comparable.
 */

/** Approval requests offered per second, all replicas together. */
export const TARGET_RPS = 500;
/** Projects the requests are spread over (each with its own approvals channel). */
export const PROJECTS = 150;
/** A card posted later than this after the load counts as lost, in milliseconds. */
export const CARD_TIMEOUT_MS = 60_000;
/**
 * Kept pace: as many accepted per second as the bare server answered under
 * the same offered load (both fall a little short of the target while
 * autocannon opens its connections), within 1%.
 */
export const KEEPING_UP = 0.99;

/**
 * The autocannon options for one load generator: `connections` sockets
 * offering `rate` requests per second for 5 s of `POST /v1/approvals`, with
 * no warm-up (it would leave its own cards in flight during the measured run).
 */
export function approvalLoad(connections: number, rate: number) {
  return {
    method: 'POST',
    connections,
    seconds: 5,
    warmupSeconds: 0,
    overallRate: rate,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ action: 'deploy payments to production', context: { bench: true, ref: 'main' } }),
  } as const;
}
