/**
 * slack-drain: a burst of approval requests to one project whose approvals
 * channel Slack lets take about one post a second (the fake's token bucket:
 * a burst of 5, then 1/s, 429 with Retry-After beyond), with the product's
 * default JOBS_POLL_SECONDS of 15. Measures the time from the first request
 * until the last card is in the channel, against the ideal: the time Slack's
 * pace itself needs, (cards - burst) / rate. Goal (docs/ARCHITECTURE.md,
 * section 12): ratio <= 1.2, every card once, and at most one refused
 * (429) call per card.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { scoped } from './lib/cleanup.ts';
import { buttonsIn } from './lib/fake-slack.ts';
import { startProduct } from './lib/product.ts';
import { BENCH_USER, createBenchProject } from './lib/projects.ts';
import { issueKey } from '../src/services/keys.ts';
import type { BenchResult } from './lib/report.ts';
import { round } from './lib/stats.ts';

const CARDS = 100;
const CHANNEL = 'C0DRAIN';
/** The fake Slack's defaults: what real Slack allows one channel. */
const BURST = 5;
const POSTS_PER_SECOND = 1;
const TIMEOUT_MS = 10 * 60_000;
const GOAL = 1.2;

export function slackDrain(dir: string): Promise<BenchResult> {
  return scoped(async (cleanup) => {
    // The product as shipped: the default 15-second poll.
    const product = await startProduct(cleanup, dir, 'slack-drain', { JOBS_POLL_SECONDS: '15' });
    const { project, authorization } = await createBenchProject(product.app, 'bench-drain');
    // The API lets one key burst 20 requests: the burst comes from several keys of the project.
    const authorizations = [authorization];
    for (let k = 1; k < Math.ceil(CARDS / 20); k++) {
      authorizations.push(`Bearer ${(await issueKey(product.app.db, Date.now(), project, `bench-${k}`, BENCH_USER)).plaintext}`);
    }
    await product.app.db.raw('UPDATE projects SET approvals_channel = ? WHERE id = ?', [CHANNEL, project.id]);
    const from = product.slack.calls.length;
    const limitedFrom = product.slack.rateLimited.length;

    const started = performance.now();
    const ids: string[] = [];
    for (let i = 0; i < CARDS; i++) {
      const res = await fetch(`${product.base}/v1/approvals`, {
        method: 'POST',
        headers: { authorization: authorizations[i % authorizations.length]!, 'content-type': 'application/json' },
        body: JSON.stringify({ action: `deploy shard ${i}`, context: { shard: i } }),
      });
      if (res.status !== 201) throw new Error(`POST /v1/approvals answered ${res.status}`);
      ids.push(((await res.json()) as { id: string }).id);
    }
    const cards = new Map<string, number>();
    let lastAt = started;
    while (cards.size < CARDS && performance.now() - started < TIMEOUT_MS) {
      await sleep(50);
      cards.clear();
      for (const call of product.slack.calls.slice(from)) {
        if (call.method !== 'chat.postMessage' || !call.ok || call.body.channel !== CHANNEL) continue;
        const id = buttonsIn(call).find((b) => b.actionId === 'approval_approve')?.value;
        if (id) cards.set(id, (cards.get(id) ?? 0) + 1);
      }
      if (cards.size < CARDS) lastAt = performance.now();
    }
    const drainMs = Math.round(lastAt - started);
    const idealMs = ((CARDS - BURST) / POSTS_PER_SECOND) * 1000;
    const refused = product.slack.rateLimited.length - limitedFrom;
    const lost = ids.filter((id) => !cards.has(id)).length;
    const duplicated = [...cards.values()].filter((n) => n > 1).length;
    const ratio = round(drainMs / idealMs);
    return {
      name: 'slack-drain',
      ratio,
      goal: `drain <= ${GOAL} x ideal, <= 1 refused per card`,
      met: ratio <= GOAL && refused <= CARDS && lost === 0 && duplicated === 0,
      product: {
        label: `${CARDS} cards to one channel, 15 s poll`,
        medianMs: drainMs,
        p99Ms: null,
        rps: null,
        note: `${refused} refused (429), ${lost} lost, ${duplicated} dup`,
      },
      baseline: { label: `ideal at ${POSTS_PER_SECOND}/s after a burst of ${BURST}`, medianMs: idealMs, p99Ms: null, rps: null },
      figures: {
        cards: CARDS,
        poll_seconds: 15,
        posts_per_second: POSTS_PER_SECOND,
        burst: BURST,
        drain_ms: drainMs,
        ideal_ms: idealMs,
        refused_calls: refused,
        lost,
        duplicated,
      },
    };
  });
}
