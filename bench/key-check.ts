/**
 * key-check: `GET /v1/projects/{p}/readiness` with a valid key, as fast as 50
 * connections go, against a bare node:http server sending the same answer.
 * Goal: at least 0.7 of the baseline's requests per second, p99 under 10 ms.
 */
import { startBareServer } from './lib/bare-server.ts';
import { scoped } from './lib/cleanup.ts';
import { alternate, type LoadPlan } from './lib/load.ts';
import { startProduct } from './lib/product.ts';
import { createBenchProject } from './lib/projects.ts';
import type { BenchResult } from './lib/report.ts';
import { round } from './lib/stats.ts';

/** Rounds of baseline then product; the fastest round of each counts. */
const ROUNDS = 2;
const LOAD = { method: 'GET', connections: 50, seconds: 5, warmupSeconds: 1 } as const;

export function keyCheck(dir: string): Promise<BenchResult> {
  return scoped(async (cleanup) => {
    const product = await startProduct(cleanup, dir, 'key-check');
    const { project, authorization } = await createBenchProject(product.app, 'bench-key-check');
    const path = `/v1/projects/${project.name}/readiness`;

    // The baseline answers exactly what the product answers.
    const answer = await fetch(`${product.base}${path}`, { headers: { authorization }, signal: AbortSignal.timeout(5_000) });
    if (answer.status !== 200) throw new Error(`readiness answered ${answer.status}: ${await answer.text()}`);
    const bare = await startBareServer(cleanup, { status: 200, body: await answer.json() });

    const plan = (base: string): LoadPlan => ({ ...LOAD, url: `${base}${path}`, headers: { authorization } });
    const { baseline, product: measured } = await alternate(ROUNDS, plan(bare), plan(product.base));

    const ratio = round(measured.rps / baseline.rps);
    const failed = measured.non2xx + measured.errors;
    return {
      name: 'key-check',
      ratio,
      goal: 'ratio >= 0.7, p99 < 10 ms',
      met: ratio >= 0.7 && measured.p99Ms < 10 && failed === 0,
      product: { label: 'key-check (readiness)', medianMs: measured.medianMs, p99Ms: measured.p99Ms, rps: measured.rps, note: `${failed} failed` },
      baseline: { label: 'bare node:http', medianMs: baseline.medianMs, p99Ms: baseline.p99Ms, rps: baseline.rps },
      figures: {
        connections: LOAD.connections,
        rounds: ROUNDS,
        seconds: measured.seconds,
        rps: measured.rps,
        median_ms: measured.medianMs,
        p99_ms: measured.p99Ms,
        failed,
        baseline_rps: baseline.rps,
        baseline_median_ms: baseline.medianMs,
        baseline_p99_ms: baseline.p99Ms,
      },
    };
  });
}
