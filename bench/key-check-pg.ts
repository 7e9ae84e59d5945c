/**
 * key-check-pg: `GET /v1/projects/{p}/readiness` with a valid key (the
 * cheapest authenticated SDK route), as fast as 50 connections go, on each
 * of two replicas (separate processes, `node dist/src/main.js`) sharing one
 * PostgreSQL database, in turn, against the same compiled product on SQLite
 * in the same run. Ratio: the slower replica's requests per second over
 * SQLite's. No goal is set: it shows what the network database costs a key
 * check (most are answered from memory while nothing changes).
 */
import { join } from 'node:path';
import { scoped } from './lib/cleanup.ts';
import { runLoad, type LoadPlan, type LoadResult } from './lib/load.ts';
import { freshPostgresDatabase } from './lib/postgres.ts';
import { createBenchProject } from './lib/projects.ts';
import { startReplicas } from './lib/replicas.ts';
import type { BenchResult } from './lib/report.ts';
import { round } from './lib/stats.ts';

const ROUNDS = 2;
const PROJECT = 'bench-key-check';
const LOAD = { method: 'GET', connections: 50, seconds: 5, warmupSeconds: 1 } as const;

export function keyCheckPg(dir: string): Promise<BenchResult> {
  return scoped(async (cleanup) => {
    const prepare = async (setup: Parameters<Parameters<typeof startReplicas>[5]>[0]) => (await createBenchProject(setup.app, PROJECT)).authorization;
    const pgUrl = await freshPostgresDatabase(cleanup, 'key_check');
    const pg = await startReplicas(cleanup, dir, 'key-check-pg', pgUrl, 2, prepare);
    const sqlite = await startReplicas(cleanup, dir, 'key-check-sqlite', `sqlite:${join(dir, 'key-check-pg.db')}`, 1, prepare);

    const path = `/v1/projects/${PROJECT}/readiness`;
    const plan = (base: string, authorization: string): LoadPlan => ({ ...LOAD, url: `${base}${path}`, headers: { authorization } });
    const targets = [
      plan(sqlite.replicas[0]!.base, sqlite.prepared),
      plan(pg.replicas[0]!.base, pg.prepared),
      plan(pg.replicas[1]!.base, pg.prepared),
    ];
    for (const target of targets) {
      const res = await fetch(target.url, { headers: target.headers, signal: AbortSignal.timeout(5_000) });
      if (res.status !== 200) throw new Error(`readiness answered ${res.status}: ${await res.text()}`);
    }
    // Rounds of SQLite, replica A, replica B in turn; the fastest round of each counts (others' work only slows a round).
    const runs: LoadResult[][] = targets.map(() => []);
    for (let r = 0; r < ROUNDS; r++) for (const [i, target] of targets.entries()) runs[i]!.push(await runLoad(target));
    const [base, a, b] = runs.map((results) => results.reduce((x, y) => (y.rps > x.rps ? y : x))) as [LoadResult, LoadResult, LoadResult];
    const slower = a.rps <= b.rps ? a : b;
    const failed = a.non2xx + a.errors + b.non2xx + b.errors;
    return {
      name: 'key-check-pg',
      ratio: round(slower.rps / base.rps),
      goal: 'none set: slower replica over SQLite',
      met: null,
      product: {
        label: 'key-check-pg (readiness, per replica)',
        medianMs: slower.medianMs,
        p99Ms: slower.p99Ms,
        rps: slower.rps,
        note: `replica A ${a.rps}/s (p99 ${a.p99Ms} ms), B ${b.rps}/s (p99 ${b.p99Ms} ms); ${failed} failed`,
      },
      baseline: { label: 'same process on SQLite', medianMs: base.medianMs, p99Ms: base.p99Ms, rps: base.rps },
      figures: {
        connections: LOAD.connections,
        rounds: ROUNDS,
        seconds: slower.seconds,
        rps_a: a.rps,
        rps_b: b.rps,
        median_ms_a: a.medianMs,
        median_ms_b: b.medianMs,
        p99_ms_a: a.p99Ms,
        p99_ms_b: b.p99Ms,
        failed,
        baseline_rps: base.rps,
        baseline_median_ms: base.medianMs,
        baseline_p99_ms: base.p99Ms,
      },
    };
  });
}
