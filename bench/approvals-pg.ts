/**
 * approvals-pg: `POST /v1/approvals` offered at 500/s for 5 s, split evenly
 * between two replicas (separate processes, `node dist/src/main.js`) on one
 * PostgreSQL database, over 150 projects with one key each and each project
 * its own approvals channel, against two bare node:http servers answering 201
 * under the same split load. Then every 201 must have its card in the (fake)
 * Slack exactly once, whichever replica's job runner posted it, and a sample
 * is approved with a signed press on replica A while the SDK polls replica B.
 * Goal: 500/s accepted, no card lost or posted twice.
 */
import { approvalLoad, CARD_TIMEOUT_MS, KEEPING_UP, PROJECTS, TARGET_RPS } from './lib/approvals-plan.ts';
import { startBareServer } from './lib/bare-server.ts';
import { waitForCards } from './lib/cards.ts';
import { scoped } from './lib/cleanup.ts';
import { approveAndPoll, spreadSample } from './lib/decide.ts';
import { combined, concurrently, type LoadPlan } from './lib/load.ts';
import { freshPostgresDatabase, queryRows, sampleActivity } from './lib/postgres.ts';
import { BENCH_USER, createBenchProject, type BenchProject } from './lib/projects.ts';
import { startReplicas } from './lib/replicas.ts';
import { offeredLoadResult, type BenchResult } from './lib/report.ts';
import { median, percentile, round } from './lib/stats.ts';

const REPLICAS = 2;
const SAMPLE = 20;

const LOAD = approvalLoad(25, TARGET_RPS / REPLICAS);

export function approvalsPg(dir: string): Promise<BenchResult> {
  return scoped(async (cleanup) => {
    const databaseUrl = await freshPostgresDatabase(cleanup, 'approvals');
    const { slack, slackUrl, replicas, prepared: projects } = await startReplicas(cleanup, dir, 'approvals-pg', databaseUrl, REPLICAS, async (setup) => {
      const made: BenchProject[] = [];
      for (let i = 0; i < PROJECTS; i++) made.push(await createBenchProject(setup.app, `bench-approvals-${i}`));
      // Each project posts to its own channel: Slack takes about one post a second per channel.
      for (const [i, p] of made.entries()) await setup.app.db.raw('UPDATE projects SET approvals_channel = ? WHERE id = ?', [`C0BENCH${i}`, p.project.id]);
      return made;
    });
    const authorizations = projects.map((p) => p.authorization);
    const answer = { status: 201, body: { id: 'apr_000000000000000000000000', status: 'pending' }, headers: { location: '/v1/approvals/apr_000000000000000000000000' } };
    const bare = [await startBareServer(cleanup, answer), await startBareServer(cleanup, answer)];

    const plans = (bases: string[]): LoadPlan[] => bases.map((base) => ({ ...LOAD, url: `${base}/v1/approvals`, authorizations, collectIds: true }));
    const baseline = combined(await concurrently(plans(bare)));
    const firstCall = slack.calls.length;
    // Where a write's time goes while the load runs (see ActivitySummary).
    const stopSampling = await sampleActivity(databaseUrl, 20);
    const perReplica = await concurrently(plans(replicas.map((r) => r.base)));
    const activity = await stopSampling();
    const measured = combined(perReplica);
    process.stderr.write(
      `approvals-pg: ${measured.ok} accepted at ${measured.rps}/s; ${round(activity.waitingForLock, 1)} sessions waiting for the lock on average, ` +
        `holder idle in transaction in ${Math.round(activity.holderWaitingForApp * 100)}% of samples, a statement executing in ${Math.round(activity.serverWorking * 100)}%; waiting for the cards\n` +
        activity.idleAfter.map(([q, n]) => `  idle in transaction after (${n}x): ${q}\n`).join(''),
    );
    const cards = await waitForCards(slack, firstCall, measured.ids, CARD_TIMEOUT_MS);
    process.stderr.write(`approvals-pg: cards ${cards.lost} lost, ${cards.duplicated} twice after ${cards.waitedMs} ms; deciding ${SAMPLE}\n`);

    // Decided through replica A, polled through replica B with the approval's own project key.
    const projectOf = new Map((await queryRows<{ id: string; project_id: number }>(databaseUrl, 'SELECT id, project_id FROM approvals')).map((r) => [r.id, r.project_id]));
    const sample = spreadSample(measured.ids, SAMPLE, projectOf, projects);
    const decisions = await approveAndPoll(replicas[0]!.base, BENCH_USER, `${slackUrl}/hooks`, sample, replicas[1]!.base);
    const decidedMs = decisions.filter((d): d is number => d !== null);
    const undecided = decisions.length - decidedMs.length;
    // For a request B never read as approved: whether the database holds the decision (B read stale) or not (A had not decided).
    const unread = sample.filter((_, i) => decisions[i] === null).map((d) => d.id);
    const approvedInDb = unread.length === 0 ? 0 : (await queryRows<{ n: number }>(databaseUrl, "SELECT count(*)::int AS n FROM approvals WHERE id = ANY($1) AND status = 'approved'", [unread]))[0]!.n;

    return offeredLoadResult({
      name: 'approvals-pg',
      goal: `${TARGET_RPS}/s accepted, 0 lost`,
      targetRps: TARGET_RPS,
      keepingUp: KEEPING_UP,
      product: { label: `approvals-pg (${REPLICAS} replicas, ${TARGET_RPS}/s offered)`, load: measured },
      baseline: { label: `${REPLICAS} bare node:http 201`, load: baseline },
      alsoMet: cards.lost === 0 && cards.duplicated === 0 && undecided === 0,
      note: (refused) =>
        `per replica ${perReplica.map((r) => r.rps).join(' + ')}/s; ${refused} refused, ${cards.lost} lost, ${cards.duplicated} dup; cards done +${(cards.waitedMs / 1000).toFixed(1)} s; decide on A, read on B median ${round(median(decidedMs), 1)} ms, ${undecided} not read as approved within 5 s (${approvedInDb} of them approved in the database)`,
      lead: { replicas: REPLICAS },
      figures: {
        accepted_rps_per_replica: perReplica.map((r) => r.rps).join(','),
        lost_cards: cards.lost,
        duplicate_cards: cards.duplicated,
        cards_done_after_ms: cards.waitedMs,
        decided: decidedMs.length,
        undecided,
        undecided_but_approved_in_database: approvedInDb,
        decision_median_ms: round(median(decidedMs)),
        decision_max_ms: round(percentile(decidedMs, 100)),
        activity_samples: activity.samples,
        sessions_waiting_for_lock: round(activity.waitingForLock, 2),
        share_holder_waiting_for_replica: round(activity.holderWaitingForApp),
        share_server_working: round(activity.serverWorking),
      },
    });
  });
}
