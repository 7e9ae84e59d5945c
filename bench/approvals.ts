/**
 * approvals: `POST /v1/approvals` at 500 requests/s for 5 s, spread over 150
 * projects with one key each (the product allows a key a burst of 20, then
 * 5/s), against a bare node:http server answering 201. Then every 201 must
 * have its card in the (fake) Slack, and a sample of requests is approved
 * with a signed press while polling as the SDK does.
 * Goal: 500 req/s accepted, no card lost.
 */
import { approvalLoad, CARD_TIMEOUT_MS, KEEPING_UP, PROJECTS, TARGET_RPS } from './lib/approvals-plan.ts';
import { startBareServer } from './lib/bare-server.ts';
import { waitForCards } from './lib/cards.ts';
import { scoped } from './lib/cleanup.ts';
import { approveAndPoll, spreadSample } from './lib/decide.ts';
import { runLoad, type LoadPlan } from './lib/load.ts';
import { startProduct } from './lib/product.ts';
import { BENCH_USER, createBenchProject, type BenchProject } from './lib/projects.ts';
import { offeredLoadResult, type BenchResult } from './lib/report.ts';
import { median, percentile, round } from './lib/stats.ts';

const SAMPLE = 50;

const LOAD = approvalLoad(50, TARGET_RPS);

export function approvals(dir: string): Promise<BenchResult> {
  return scoped(async (cleanup) => {
    const product = await startProduct(cleanup, dir, 'approvals');
    const projects: BenchProject[] = [];
    for (let i = 0; i < PROJECTS; i++) projects.push(await createBenchProject(product.app, `bench-approvals-${i}`));
    // Each project posts to its own channel: Slack takes about one post a second per channel.
    for (const [i, p] of projects.entries()) await product.app.db.raw('UPDATE projects SET approvals_channel = ? WHERE id = ?', [`C0BENCH${i}`, p.project.id]);
    await product.app.jobs.runDue();
    const authorizations = projects.map((p) => p.authorization);
    const bare = await startBareServer(cleanup, {
      status: 201,
      body: { id: 'apr_000000000000000000000000', status: 'pending' },
      headers: { location: '/v1/approvals/apr_000000000000000000000000' },
    });

    const plan = (base: string): LoadPlan => ({ ...LOAD, url: `${base}/v1/approvals`, authorizations, collectIds: true });
    const baseline = await runLoad(plan(bare));
    const firstCall = product.slack.calls.length;
    const measured = await runLoad(plan(product.base));
    const cards = await waitForCards(product.slack, firstCall, measured.ids, CARD_TIMEOUT_MS);

    // Decide requests spread over the run, each polled with its own project's key.
    const projectOf = new Map(
      (await product.app.db.raw<{ id: string; project_id: number }>('SELECT id, project_id FROM approvals')).map((r) => [r.id, r.project_id]),
    );
    const sample = spreadSample(measured.ids, SAMPLE, projectOf, projects);
    const decisions = await approveAndPoll(product.base, BENCH_USER, `${product.url}/hooks`, sample);
    const decidedMs = decisions.filter((d): d is number => d !== null);
    const undecided = decisions.length - decidedMs.length;

    return offeredLoadResult({
      name: 'approvals',
      goal: `${TARGET_RPS}/s accepted, 0 lost`,
      targetRps: TARGET_RPS,
      keepingUp: KEEPING_UP,
      product: { label: `approvals (${TARGET_RPS}/s offered)`, load: measured },
      baseline: { label: 'bare node:http 201', load: baseline },
      alsoMet: cards.lost === 0 && undecided === 0,
      note: (refused) =>
        `${refused} refused, ${cards.lost} lost, ${cards.duplicated} dup; cards done +${(cards.waitedMs / 1000).toFixed(1)} s; decide median ${round(median(decidedMs), 1)} ms`,
      figures: {
        lost_cards: cards.lost,
        duplicate_cards: cards.duplicated,
        cards_done_after_ms: cards.waitedMs,
        decided: decidedMs.length,
        undecided,
        decision_median_ms: round(median(decidedMs)),
        decision_max_ms: round(percentile(decidedMs, 100)),
      },
    });
  });
}
