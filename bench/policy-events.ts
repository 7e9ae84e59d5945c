/**
 * policy-events: `POST /v1/policy-audit/events` as the TypeScript SDK's
 * cloud pusher sends it (one decision per request, `"path": "direct"`),
 * offered at a fixed rate spread over many projects' keys (each key stays
 * inside its own push bucket of 50 a second), against a bare node:http
 * server answering the same 202 under the same offered load.
 * Goal: the offered rate kept (at least 0.99 of the baseline's accepted per
 * second, none refused) and p99 under 50 ms: the pusher gives up after 500.
 * A share of the decisions are BLOCKED, so announcement jobs are scheduled
 * (and run) during the load as they would be.
 */
import { startBareServer } from './lib/bare-server.ts';
import { scoped } from './lib/cleanup.ts';
import { runLoad, type LoadPlan } from './lib/load.ts';
import { startProduct } from './lib/product.ts';
import { createBenchProject, type BenchProject } from './lib/projects.ts';
import { offeredLoadResult, type BenchResult } from './lib/report.ts';

/** Pushes offered per second, all keys together. */
const TARGET_RPS = 1_000;
/** Keys the pushes rotate over: 25 a second each, half their bucket. */
const PROJECTS = 40;
const KEEPING_UP = 0.99;
const P99_GOAL_MS = 50;

/** One decision as the TypeScript SDK's audit writer builds it. */
const event = (decision: string) => ({
  ts: '2026-11-30T09:00:00.000Z',
  run_id: 'run-bench',
  trace_id: null,
  decision_id: null,
  adapter: 'ts-sdk',
  host: 'typescript',
  server: null,
  tool: decision === 'BLOCKED' ? 'payments.refund_order' : 'payments.read_invoice',
  args: { invoice: 'INV-1042', amount_cents: 1999, note: 'bench' },
  decision,
  rule: decision === 'BLOCKED' ? 'payments.refund*' : null,
  rule_kind: decision === 'BLOCKED' ? 'block' : null,
  executed: decision !== 'BLOCKED',
  policy_version: '1',
  schema_version: 1,
});

export function policyEvents(dir: string): Promise<BenchResult> {
  return scoped(async (cleanup) => {
    const product = await startProduct(cleanup, dir, 'policy-events');
    const projects: BenchProject[] = [];
    for (let i = 0; i < PROJECTS; i++) projects.push(await createBenchProject(product.app, `bench-events-${i}`));
    // An approvals channel each, so BLOCKED decisions schedule their announcement.
    for (const [i, p] of projects.entries()) await product.app.db.raw('UPDATE projects SET approvals_channel = ? WHERE id = ?', [`C0EVENTS${i}`, p.project.id]);
    const authorizations = projects.map((p) => p.authorization);
    const bare = await startBareServer(cleanup, { status: 202, body: { accepted: 1 } });

    const load = (base: string, decision: string): LoadPlan => ({
      url: `${base}/v1/policy-audit/events`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ events: [event(decision)], path: 'direct' }),
      connections: 25,
      seconds: 5,
      warmupSeconds: 0,
      overallRate: TARGET_RPS,
      authorizations,
    });
    // A blocked burst first (announcements scheduled), then the measured run mostly of allowed calls.
    await runLoad({ ...load(product.base, 'BLOCKED'), seconds: 1, overallRate: 100 });
    const baseline = await runLoad(load(bare, 'ALLOWED'));
    const measured = await runLoad(load(product.base, 'ALLOWED'));
    const stored = (await product.app.db.raw<{ n: number }>('SELECT count(*) AS n FROM policy_events'))[0]!.n;

    return offeredLoadResult({
      name: 'policy-events',
      goal: `${TARGET_RPS}/s kept, p99 < ${P99_GOAL_MS} ms`,
      targetRps: TARGET_RPS,
      keepingUp: KEEPING_UP,
      product: { label: `policy-events (${TARGET_RPS}/s offered)`, load: measured },
      baseline: { label: 'bare node:http 202', load: baseline },
      alsoMet: measured.p99Ms < P99_GOAL_MS,
      note: (refused) => `${refused} refused, ${stored} stored`,
      lead: { keys: PROJECTS },
      figures: { stored },
    });
  });
}
