/**
 * Deciding approvals as a person would: a signed Approve press on the card,
 * then the SDK's poll of `GET /v1/approvals/{id}` until it reads `approved`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { buttonPayload } from './fake-slack.ts';
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
