/**
 * The worker side of load.ts: runs the plan with autocannon and posts back
 * one LoadResult. Latencies come from autocannon's `response` events, kept
 * raw, because its own histogram rounds them to whole milliseconds.
 *
 * A paced plan (`overallRate`) offers exactly rate x seconds requests.
 * autocannon paces each connection per whole second, in a burst at the start
 * of each second, so a run cut by time would count a racy part of one more
 * burst. Its rate is the answers over the offered seconds, or over the time
 * the run really took when the server fell behind; the run stops at the
 * latest `PACED_GRACE_S` after the offered seconds.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import autocannon, { type Options, type RequestStep } from 'autocannon';
import type { LoadPlan, LoadResult } from './load.ts';
import { median, percentile, round } from './stats.ts';

const plan = workerData as LoadPlan;
const PACED_GRACE_S = 5;
/** Re-signed Slack requests of this worker, across its warm-up and measured runs: each body is unique. */
let signed = 0;
const RUN = randomUUID().slice(0, 8);

function options(seconds: number, ids: string[] | null): Options {
  const step: RequestStep = {};
  const authorizations = plan.authorizations;
  if (authorizations && authorizations.length > 0) {
    let next = 0;
    step.setupRequest = (request) => {
      const authorization = authorizations[next++ % authorizations.length]!;
      return { ...request, headers: { ...request.headers, authorization } };
    };
  }
  const secret = plan.slackSigningSecret;
  if (secret && plan.body) {
    const base = plan.body;
    step.setupRequest = (request) => {
      const body = base.replace(/(^|&)trigger_id=([^&]*)/, (_all, lead: string, id: string) => `${lead}trigger_id=${id}.${RUN}.${signed++}`);
      const timestamp = String(Math.floor(Date.now() / 1000));
      const signature = `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
      return {
        ...request,
        body,
        headers: { ...request.headers, 'x-slack-request-timestamp': timestamp, 'x-slack-signature': signature },
      };
    };
  }
  if (ids) {
    step.onResponse = (status, body) => {
      if (status >= 200 && status < 300) ids.push((JSON.parse(body) as { id: string }).id);
    };
  }
  return {
    url: plan.url,
    method: plan.method,
    headers: plan.headers,
    body: plan.body,
    connections: plan.connections,
    duration: plan.overallRate ? seconds + PACED_GRACE_S : seconds,
    overallRate: plan.overallRate,
    maxOverallRequests: plan.overallRate ? plan.overallRate * seconds : undefined,
    timeout: 10,
    requests: [step],
  };
}

async function measure(seconds: number, ids: string[] | null): Promise<LoadResult> {
  const latencies: number[] = [];
  const instance = autocannon(options(seconds, ids));
  instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => latencies.push(ms));
  const result = await instance;
  const ok = Object.entries(result.statusCodeStats).reduce((sum, [code, s]) => (code.startsWith('2') ? sum + s.count : sum), 0);
  const elapsed = plan.overallRate ? Math.max(seconds, result.duration) : result.duration;
  return {
    seconds: elapsed,
    requests: latencies.length,
    ok,
    rps: round(ok / elapsed, 1),
    medianMs: round(median(latencies)),
    p99Ms: round(percentile(latencies, 99)),
    non2xx: result.non2xx,
    errors: result.errors,
    ids: ids ?? [],
  };
}

if (plan.warmupSeconds > 0) await measure(plan.warmupSeconds, null);
parentPort!.postMessage(await measure(plan.seconds, plan.collectIds ? [] : null));
