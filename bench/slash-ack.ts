/**
 * slash-ack: signed `/jamjet projects list` from 10 connections, against a
 * minimal Bolt app that only acknowledges. The bench user owns a few
 * projects, so the product's answer lists them.
 * Goal: product median at most 1.25 x the baseline's.
 */
import { startBoltBaseline } from './lib/bolt-baseline.ts';
import { scoped } from './lib/cleanup.ts';
import { alternate, type LoadPlan } from './lib/load.ts';
import { startProduct } from './lib/product.ts';
import { BENCH_USER, createBenchProject } from './lib/projects.ts';
import type { BenchResult } from './lib/report.ts';
import { SIGNING_SECRET } from './lib/fake-slack.ts';
import { signedHeaders, slashBody } from './lib/slack-requests.ts';
import { round } from './lib/stats.ts';

const PROJECTS = 5;
/** Rounds of baseline then product; the fastest round of each counts. */
const ROUNDS = 2;
const LOAD = { method: 'POST', connections: 10, seconds: 5, warmupSeconds: 1 } as const;

export function slashAck(dir: string): Promise<BenchResult> {
  return scoped(async (cleanup) => {
    const product = await startProduct(cleanup, dir, 'slash-ack');
    for (let i = 0; i < PROJECTS; i++) await createBenchProject(product.app, `bench-slash-${i}`);
    // The key deliveries of those projects go out now, not during the load.
    await product.app.jobs.runDue();
    const bolt = await startBoltBaseline(cleanup, product.url);

    const body = slashBody(BENCH_USER, 'projects list', `${product.url}/hooks`);
    const plan = (base: string): LoadPlan => ({
      ...LOAD,
      url: `${base}/slack/events`,
      headers: signedHeaders(body),
      body,
      slackSigningSecret: SIGNING_SECRET,
    });
    const check = await fetch(plan(product.base).url, {
      method: 'POST',
      headers: signedHeaders(body),
      body,
      signal: AbortSignal.timeout(5_000),
    });
    const reply = await check.text();
    if (check.status !== 200 || !reply.includes('bench-slash-0')) throw new Error(`projects list answered ${check.status}: ${reply}`);

    const { baseline, product: measured } = await alternate(ROUNDS, plan(bolt), plan(product.base));

    const ratio = round(measured.medianMs / baseline.medianMs);
    const failed = measured.non2xx + measured.errors;
    return {
      name: 'slash-ack',
      ratio,
      goal: 'median <= 1.25 x baseline',
      met: ratio <= 1.25 && failed === 0,
      product: { label: 'slash-ack (projects list)', medianMs: measured.medianMs, p99Ms: measured.p99Ms, rps: measured.rps, note: `${failed} failed` },
      baseline: { label: 'minimal Bolt app', medianMs: baseline.medianMs, p99Ms: baseline.p99Ms, rps: baseline.rps },
      figures: {
        connections: LOAD.connections,
        rounds: ROUNDS,
        seconds: measured.seconds,
        median_ms: measured.medianMs,
        p99_ms: measured.p99Ms,
        rps: measured.rps,
        failed,
        baseline_median_ms: baseline.medianMs,
        baseline_p99_ms: baseline.p99Ms,
        baseline_rps: baseline.rps,
      },
    };
  });
}
