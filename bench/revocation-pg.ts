/**
 * revocation-pg: how soon a key revoked through one replica is refused by
 * the other. Two replicas (separate processes) share one PostgreSQL
 * database; each key is first used on both (so both remember it), then
 * `/jamjet keys revoke <project> <key-id>` is sent, signed, to replica A
 * while the SDK's cheapest authenticated call is repeated without pause on
 * A and on B until each answers 401. The revocation holds on A from its
 * commit, seen as A's first 401; the delay is from then until B's first 401
 * (B's change listener hears the commit and forgets the key). The baseline
 * row is from sending the command until A's first 401: the command's own
 * time, the same with one replica. Goal: p99 of the delay under 100 ms.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { scoped } from './lib/cleanup.ts';
import { freshPostgresDatabase } from './lib/postgres.ts';
import { BENCH_USER, createBenchProject } from './lib/projects.ts';
import { startReplicas } from './lib/replicas.ts';
import type { BenchResult } from './lib/report.ts';
import { signedHeaders, slashBody } from './lib/slack-requests.ts';
import { median, percentile, round } from './lib/stats.ts';
import { issueKey } from '../src/services/keys.ts';

const REVOCATIONS = 100;
const PROJECT = 'bench-revocation';
const GOAL_P99_MS = 100;
/** A replica still accepting the key this long after the command counts as never refusing it. */
const GIVE_UP_MS = 5_000;

interface Revocable {
  readonly publicId: string;
  readonly authorization: string;
}

/** Repeats the readiness call on `base` until it answers 401; resolves with that moment (performance.now()), or null on giving up. */
async function firstRefusal(base: string, authorization: string, started: number): Promise<number | null> {
  const url = `${base}/v1/projects/${PROJECT}/readiness`;
  while (performance.now() - started < GIVE_UP_MS) {
    const res = await fetch(url, { headers: { authorization }, signal: AbortSignal.timeout(GIVE_UP_MS) });
    await res.arrayBuffer();
    if (res.status === 401) return performance.now();
    if (res.status !== 200) throw new Error(`readiness answered ${res.status} before the key was refused`);
  }
  return null;
}

export function revocationPg(dir: string): Promise<BenchResult> {
  return scoped(async (cleanup) => {
    const databaseUrl = await freshPostgresDatabase(cleanup, 'revocation');
    const { slackUrl, replicas, prepared: keys } = await startReplicas(cleanup, dir, 'revocation-pg', databaseUrl, 2, async (setup) => {
      const { project } = await createBenchProject(setup.app, PROJECT);
      const made: Revocable[] = [];
      for (let i = 0; i < REVOCATIONS; i++) {
        const { key, plaintext } = await issueKey(setup.app.db, Date.now(), project, `revoked-${i}`, BENCH_USER);
        made.push({ publicId: key.publicId, authorization: `Bearer ${plaintext}` });
      }
      return made;
    });
    const [a, b] = [replicas[0]!.base, replicas[1]!.base];
    /** From sending the command until A refuses (its commit), and until B refuses. */
    const onA: number[] = [];
    const onB: number[] = [];
    /** From A's first refusal until B's (negative when B happened to ask first). */
    const delays: number[] = [];
    let neverRefused = 0;
    for (const key of keys) {
      // Both replicas remember the key: the case invalidation must handle.
      for (const base of [a, b]) {
        const res = await fetch(`${base}/v1/projects/${PROJECT}/readiness`, { headers: { authorization: key.authorization }, signal: AbortSignal.timeout(GIVE_UP_MS) });
        if (res.status !== 200) throw new Error(`readiness answered ${res.status} before the revocation`);
        await res.arrayBuffer();
      }
      const body = slashBody(BENCH_USER, `keys revoke ${PROJECT} ${key.publicId}`, `${slackUrl}/hooks`);
      const started = performance.now();
      const command = fetch(`${a}/slack/events`, { method: 'POST', headers: signedHeaders(body), body, signal: AbortSignal.timeout(GIVE_UP_MS) }).then(async (res) => {
        const text = await res.text();
        if (res.status !== 200 || !text.includes('is revoked')) throw new Error(`keys revoke answered ${res.status}: ${text}`);
      });
      const [, refusedA, refusedB] = await Promise.all([command, firstRefusal(a, key.authorization, started), firstRefusal(b, key.authorization, started)]);
      if (refusedA === null || refusedB === null) neverRefused++;
      if (refusedA !== null) onA.push(refusedA - started);
      if (refusedB !== null) onB.push(refusedB - started);
      if (refusedA !== null && refusedB !== null) delays.push(refusedB - refusedA);
      // Slack's pace for one person's commands; also lets the usage flush and other work settle.
      await sleep(20);
    }
    const p99 = round(percentile(delays, 99), 1);
    const p99A = round(percentile(onA, 99), 1);
    return {
      name: 'revocation-pg',
      ratio: round(percentile(onB, 99) / percentile(onA, 99)),
      goal: `p99 < ${GOAL_P99_MS} ms from A's refusal to B's`,
      met: p99 < GOAL_P99_MS && neverRefused === 0,
      product: {
        label: `revocation-pg (refused by A, then by B; ${keys.length} keys)`,
        medianMs: round(median(delays), 2),
        p99Ms: p99,
        rps: null,
        note: `max ${round(percentile(delays, 100), 1)} ms; from the command: B median ${round(median(onB), 1)} ms, p99 ${round(percentile(onB, 99), 1)} ms; ${neverRefused} not refused within ${GIVE_UP_MS / 1000} s`,
      },
      baseline: { label: 'command sent to A until A refuses', medianMs: round(median(onA), 2), p99Ms: p99A, rps: null },
      figures: {
        revocations: keys.length,
        median_ms: round(median(delays), 2),
        p99_ms: p99,
        max_ms: round(percentile(delays, 100), 1),
        from_command_median_ms: round(median(onB), 2),
        from_command_p99_ms: round(percentile(onB, 99), 1),
        never_refused: neverRefused,
        baseline_median_ms: round(median(onA), 2),
        baseline_p99_ms: p99A,
      },
    };
  });
}
