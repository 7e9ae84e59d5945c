/**
 * Deciding approvals as a person would: a signed Approve press on the card,
 * then the SDK's poll of `GET /v1/approvals/{id}` until it reads `approved`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { buttonPayload } from './fake-slack.ts';
import type { BenchProject } from './projects.ts';
import { interactionBody, signedHeaders } from './slack-requests.ts';

const POLL_MS = 5;
const DECISION_TIMEOUT_MS = 5_000;
/** One request's own bound, so a hung answer cannot stall the run. */
const REQUEST_TIMEOUT_MS = 5_000;

export interface Decidable {
  readonly id: string;
  /** `Bearer ...` of a key of the approval's project. */
  readonly authorization: string;
}

/**
 * At most `size` of the approval ids `ids`, spread evenly over them (every
 * step-th from the first, the step `ids.length / size` rounded down, at least
 * 1), each with the authorization of its own project's key: `projectOf` maps
 * an approval id to its project's database id, `projects` hold the keys.
 */
export function spreadSample(
  ids: readonly string[],
  size: number,
  projectOf: ReadonlyMap<string, number>,
  projects: readonly BenchProject[],
): Decidable[] {
  const keyOf = new Map(projects.map((p) => [p.project.id, p.authorization]));
  const step = Math.max(1, Math.floor(ids.length / size));
  return ids
    .filter((_, i) => i % step === 0)
    .slice(0, size)
    .map((id) => ({ id, authorization: keyOf.get(projectOf.get(id)!)! }));
}

/**
 * Presses Approve for each request in turn; returns, per request, the
 * milliseconds from the press until the poll read `approved`, or null when it
 * did not within 5 s. The press goes to `base`, the polls to `pollBase`
 * (another replica, for the `-pg` benchmarks).
 */
export async function approveAndPoll(
  base: string,
  user: string,
  hooksUrl: string,
  sample: readonly Decidable[],
  pollBase = base,
): Promise<(number | null)[]> {
  const latencies: (number | null)[] = [];
  for (const { id, authorization } of sample) {
    const started = performance.now();
    const body = interactionBody(buttonPayload(user, 'approval_approve', id, `D${user}`, hooksUrl));
    const press = await fetch(`${base}/slack/events`, {
      method: 'POST',
      headers: signedHeaders(body),
      body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    await press.arrayBuffer();
    if (press.status !== 200) throw new Error(`Approve press answered ${press.status}`);
    let decided: number | null = null;
    while (decided === null && performance.now() - started < DECISION_TIMEOUT_MS) {
      const res = await fetch(`${pollBase}/v1/approvals/${id}`, { headers: { authorization }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      const { status } = (await res.json()) as { status?: string };
      if (status === 'approved') decided = performance.now() - started;
      else await sleep(POLL_MS);
    }
    latencies.push(decided);
  }
  return latencies;
}
