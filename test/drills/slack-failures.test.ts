/**
 * Drill: Slack answers 429 (with Retry-After) and 500 while the bot sends
 * approval cards, rotation reminders, reveal-expiry edits and reveal DMs.
 * In tests the Slack client does not retry by itself (`retries: 0`) and
 * rejects rate-limited calls, so every failure reaches the job queue (or the
 * command's reply): nothing may be lost, nothing sent twice, and a retry must
 * wait for Retry-After or the queue's backoff.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffMs } from '../../src/jobs/queue.ts';
import { reveal, readiness, run, waitForCall } from '../e2e/keys-flow.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { BOT_USER, buttonPayload, buttonsIn, FakeSlack, interact } from '../helpers/slack.ts';
import { FlakySlack, mentions, rateLimited, serverError, type Attempt, type Failure } from './flaky-slack.ts';

const OWNER = 'U0OWNER';
const OWNER2 = 'U0OWNER2';
const CHANNEL = 'C0APPROVALS';
const STEP_MS = 1000;

let t: TestApp;
let clock: { now: number };
let flaky: FlakySlack;
let key: string;

beforeEach(async () => {
  clock = { now: Date.UTC(2026, 10, 28, 9, 0, 0) };
  // Slack's own pace (about one post a second per channel) runs on the test clock too.
  const slack = new FakeSlack({ now: () => clock.now })
    .addUser({ id: OWNER, email: 'owner@acme.test' })
    .addUser({ id: OWNER2, email: 'owner2@acme.test' })
    .addChannel({ id: CHANNEL, members: [BOT_USER, OWNER] });
  flaky = new FlakySlack(slack, () => clock.now);
  // Each retry is timed against the moved clock: one process (replicas have their own drills).
  t = await startTestApp({ slack, now: () => clock.now, env: { JOBS_POLL_SECONDS: '3600' }, single: true });
  await run(t, OWNER, 'projects create pay');
  key = await reveal(t, OWNER);
});
afterEach(async () => {
  await t.stop();
});

interface JobRow {
  id: number;
  kind: string;
  status: string;
  attempts: number;
  payload: string;
}
const jobs = async (kind: string) => await t.app.db.raw('SELECT id, kind, status, attempts, payload FROM jobs WHERE kind = ? ORDER BY id', [kind]) as JobRow[];

/** Moves the clock one step at a time, running due jobs, until `done` or `maxMs` have passed. */
async function drive(done: () => boolean | Promise<boolean>, maxMs = 30 * 60_000): Promise<void> {
  const end = clock.now + maxMs;
  await t.app.jobs.runDue();
  while (!(await done())) {
    if (clock.now >= end) throw new Error(`not done after ${maxMs} ms of clock: ${JSON.stringify(await t.app.db.raw("SELECT kind, status, attempts, last_error FROM jobs WHERE status != 'done'"))}`);
    clock.now += STEP_MS;
    await t.app.jobs.runDue();
  }
}

/**
 * The tries of one item (a card, a reminder, an edit), in order: each retry
 * waited for Retry-After after a 429, or for the queue's backoff after a 500,
 * and came within one clock step of that.
 */
function expectRetriesOnTime(tries: Attempt[], failures: Failure[], sharedChannel = false): void {
  expect(tries.map((a) => a.status)).toEqual([...failures.map((f) => f[0]), 200]);
  // Cards to one channel share its 429 pauses and its pace: a retry may come later than its own wait, never earlier.
  const slack = sharedChannel ? 60_000 : 0;
  for (let i = 1; i < tries.length; i++) {
    const failure = failures[i - 1]!;
    // Waiting out a rate limit uses up no attempt: the backoff counts real failures only.
    const realFailures = failures.slice(0, i).filter((f) => f[0] !== 429).length;
    const wait = failure[0] === 429 ? Number(failure[2]!['retry-after']) * 1000 : backoffMs(realFailures);
    const waited = tries[i]!.at - tries[i - 1]!.at;
    expect(waited, `try ${i + 1} after ${failure[0]}`).toBeGreaterThanOrEqual(wait);
    expect(waited, `try ${i + 1} after ${failure[0]}`).toBeLessThan(wait + STEP_MS + slack);
  }
}

/** After a 429 with Retry-After, no job calls that channel again before the pause is over. */
function expectPausesHonoured(channel: string): void {
  const toChannel = flaky.attempts.filter((a) => a.method === 'chat.postMessage' && a.body.channel === channel);
  for (const [i, a] of toChannel.entries()) {
    if (a.status !== 429) continue;
    const early = toChannel.slice(i + 1).filter((b) => b.at < a.at + a.retryAfter! * 1000);
    expect(early, `calls to ${channel} during a ${a.retryAfter} s pause`).toEqual([]);
  }
}

async function createApproval(action: string, apiKey = key): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${t.port}/v1/approvals`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ action }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

describe('approval cards while Slack fails', () => {
  it('posts each card exactly once, retrying after Retry-After on 429 and after the backoff on 500', async () => {
    await run(t, OWNER, `projects channel pay <#${CHANNEL}|approvals>`);
    const plans: Failure[][] = [[rateLimited(3), serverError], [serverError, rateLimited(7), serverError], [], [rateLimited(1)]];
    // Each request's card gets its own failures (matched by its action), whatever order the queue runs them in.
    for (const [i, plan] of plans.entries()) flaky.fail('chat.postMessage', plan, mentions(`deploy step ${i}`));
    const ids: string[] = [];
    for (const i of plans.keys()) ids.push(await createApproval(`deploy step ${i}`));
    await drive(async () => (await jobs('approval.post')).every((j) => j.status === 'done'));

    for (const [i, id] of ids.entries()) {
      expect(flaky.delivered('chat.postMessage', mentions(id)), `card ${i}`).toHaveLength(1);
      expectRetriesOnTime(flaky.tries('chat.postMessage', mentions(id)), plans[i]!, true);
      expect(await t.app.db.raw('SELECT channel FROM approval_cards WHERE approval_id = ?', [id])).toEqual([{ channel: CHANNEL }]);
    }
    expect((await jobs('approval.post')).map((j) => j.status)).toEqual(['done', 'done', 'done', 'done']);
    // A 429 paused the channel for every card, and no card ran into the pause.
    expectPausesHonoured(CHANNEL);

    // A decision edits the card through the queue too; a 429 on the edit delays it and nothing else.
    flaky.fail('chat.update', [rateLimited(2)], mentions(ids[0]!));
    const approved = await interact(t.port, buttonPayload(OWNER, 'approval_approve', ids[0]!, CHANNEL));
    expect(approved.status).toBe(200);
    await vi.waitFor(() => expect(flaky.tries('chat.update', mentions(ids[0]!))).toHaveLength(1), { timeout: 5000, interval: 20 });
    await drive(async () => (await jobs('approval.refresh')).every((j) => j.status === 'done'));
    const edits = flaky.delivered('chat.update', mentions(ids[0]!));
    expect(edits).toHaveLength(1);
    expect(JSON.stringify(edits[0]!.body)).toContain('Approved');
    expectRetriesOnTime(flaky.tries('chat.update', mentions(ids[0]!)), [rateLimited(2)]);
  });

  it('records the first try of a card exactly when Retry-After says', async () => {
    await run(t, OWNER, `projects channel pay <#${CHANNEL}|approvals>`);
    flaky.fail('chat.postMessage', [rateLimited(3)], (b) => b.channel === CHANNEL);
    const startedAt = clock.now;
    const id = await createApproval('restart workers');
    // The POST kicked the queue: the first try was refused and the job waits exactly Retry-After,
    // without using up an attempt.
    await vi.waitFor(async () =>
      expect((await t.app.db.raw("SELECT status, attempts, last_error IS NOT NULL AS tried FROM jobs WHERE kind = 'approval.post'"))[0]).toEqual({
        status: 'pending',
        attempts: 0,
        tried: 1,
      }),
      { timeout: 5000, interval: 20 },
    );
    const runAt = ((await t.app.db.raw("SELECT run_at FROM jobs WHERE kind = 'approval.post'"))[0] as { run_at: number }).run_at;
    expect(runAt - startedAt).toBe(3000);
    clock.now += 2999;
    await t.app.jobs.runDue();
    expect(flaky.tries('chat.postMessage', mentions(id))).toHaveLength(1);
    clock.now += 1;
    await t.app.jobs.runDue();
    expect(flaky.delivered('chat.postMessage', mentions(id))).toHaveLength(1);
    expect((await jobs('approval.post'))[0]).toMatchObject({ status: 'done', attempts: 1 });
  });

  it('DMs each Owner once when one Owner’s DM keeps failing (no approvals channel)', async () => {
    await run(t, OWNER, `members invite pay <@${OWNER2}> owner`);
    const toOwner2: Failure[] = [rateLimited(3), serverError, serverError];
    flaky.fail('chat.postMessage', toOwner2, (b) => b.channel === OWNER2 && JSON.stringify(b).includes('apr_'));
    const id = await createApproval('rotate the database password');
    await drive(async () => (await jobs('approval.post')).every((j) => j.status === 'done'));
    expect(flaky.delivered('chat.postMessage', (b) => b.channel === OWNER && mentions(id)(b))).toHaveLength(1);
    expect(flaky.delivered('chat.postMessage', (b) => b.channel === OWNER2 && mentions(id)(b))).toHaveLength(1);
    expectRetriesOnTime(flaky.tries('chat.postMessage', (b) => b.channel === OWNER2 && mentions(id)(b)), toOwner2);
    const cards = await t.app.db.raw('SELECT destination FROM approval_cards WHERE approval_id = ? ORDER BY destination', [id]);
    expect(cards).toEqual([{ destination: OWNER }, { destination: OWNER2 }].sort((a, b) => a.destination.localeCompare(b.destination)));
  });
});

describe('rotation reminders while Slack fails', () => {
  it('sends each reminder exactly once, after Retry-After and the backoff', async () => {
    await run(t, OWNER2, 'projects create ops');
    const plans: Record<string, Failure[]> = {
      pay: [rateLimited(3), serverError, rateLimited(5)],
      ops: [serverError, serverError, rateLimited(2)],
    };
    for (const [project, plan] of Object.entries(plans)) {
      flaky.fail('chat.postMessage', plan, (b) => String(b.text).includes(`overlap of the \`${project}\``));
    }
    for (const [user, project] of [[OWNER, 'pay'], [OWNER2, 'ops']] as const) {
      expect((await run(t, user, `keys rotate ${project} --overlap 0s`)).text).toContain('Rotating');
    }
    await drive(async () => (await jobs('rotation.reminder')).every((j) => j.status === 'done'));

    for (const [project, plan] of Object.entries(plans)) {
      const isReminder = (b: Record<string, unknown>) => String(b.text).includes(`overlap of the \`${project}\``);
      expect(flaky.delivered('chat.postMessage', isReminder), project).toHaveLength(1);
      expectRetriesOnTime(flaky.tries('chat.postMessage', isReminder), plan);
    }
    // Attempts count the 500s and the final success; waits for Retry-After are free.
    expect((await jobs('rotation.reminder')).map((j) => [j.status, j.attempts])).toEqual([
      ['done', 2],
      ['done', 3],
    ]);
    expect((await t.app.db.raw('SELECT count(*) AS n FROM rotations WHERE reminded_at IS NOT NULL'))[0]).toEqual({ n: 2 });
    // Hours later, nothing more.
    clock.now += 6 * 3_600_000;
    await t.app.jobs.runDue();
    expect(flaky.delivered('chat.postMessage', (b) => String(b.text).includes('overlap of the'))).toHaveLength(2);
  });
});

describe('reveal-expiry edits while Slack fails', () => {
  it('edits each unrevealed delivery’s DM exactly once when the 15 minutes are up', async () => {
    const from = t.slack.calls.length;
    await run(t, OWNER, 'keys create pay --name ci');
    await run(t, OWNER, 'keys create pay --name cron');
    await vi.waitFor(() => expect(t.slack.calls.slice(from).filter((c) => c.method === 'chat.postMessage')).toHaveLength(2), { timeout: 5000, interval: 20 });
    // Both DMs are recorded (the expiry job edits the message it knows of).
    await vi.waitFor(async () => expect((await t.app.db.raw('SELECT count(*) AS n FROM key_deliveries WHERE dm_ts IS NOT NULL'))[0]).toEqual({ n: 3 }), { timeout: 5000, interval: 20 });
    /** The edit of the DM of the key labelled `label` to "expired". */
    const expiryOf = (label: string) => (b: Record<string, unknown>) => String(b.text).includes(`, ${label}).`) && String(b.text).includes('expired unrevealed');
    const plan: Failure[] = [rateLimited(3), serverError, serverError];
    flaky.fail('chat.update', plan, expiryOf('ci'));
    flaky.fail('chat.update', [serverError], expiryOf('cron'));

    clock.now += 15 * 60_000 + 1;
    await drive(async () => (await jobs('reveal.expire')).every((j) => j.status === 'done'));

    expect(flaky.delivered('chat.update', expiryOf('ci'))).toHaveLength(1);
    expect(flaky.delivered('chat.update', expiryOf('cron'))).toHaveLength(1);
    expect(flaky.delivered('chat.update', (b) => String(b.text).includes('expired unrevealed'))).toHaveLength(2);
    expectRetriesOnTime(flaky.tries('chat.update', expiryOf('ci')), plan);
    expectRetriesOnTime(flaky.tries('chat.update', expiryOf('cron')), [serverError]);
    // The first project's key was revealed: its expiry job ran and edited nothing.
    expect((await jobs('reveal.expire')).map((j) => j.status)).toEqual(['done', 'done', 'done']);
    expect((await t.app.db.raw('SELECT count(*) AS n FROM key_deliveries WHERE expired_at IS NOT NULL'))[0]).toEqual({ n: 2 });
  });
});

describe('the reveal DM after keys create while Slack fails', () => {
  it.each([
    // A Retry-After longer than the DM waits for the person (10 s): a shorter one is waited out (slack-refusals-told).
    ['429 with Retry-After', rateLimited(30), 'ratelimited'],
    ['500', serverError, '500'],
  ] as const)('Slack answering %s: the Reveal button comes in the command’s reply instead, and it works', async (_name, failure, reason) => {
    flaky.fail('chat.postMessage', [failure], (b) => b.channel === OWNER);
    const from = t.slack.calls.length;
    const reply = await run(t, OWNER, 'keys create pay --name ci');
    expect(reply.text).toContain('created');
    const fallback = await waitForCall(t, from, (c) => c.method === 'response_url' && buttonsIn(c).some((b) => b.actionId === 'key_reveal'));
    expect(JSON.stringify(fallback.body.blocks)).toContain(reason);
    expect(flaky.delivered('chat.postMessage', (b) => b.channel === OWNER && mentions('ci)')(b))).toHaveLength(0);

    const newKey = await reveal(t, OWNER, from);
    expect(newKey).not.toBe(key);
    expect((await readiness(t, 'pay', newKey)).status).toBe(200);
    // The DM was never recorded, so the expiry job has nothing to edit, and does not fail.
    clock.now += 15 * 60_000 + 1;
    await t.app.jobs.runDue();
    expect((await jobs('reveal.expire')).every((j) => j.status === 'done')).toBe(true);
    await waitForCall(t, from, (c) => c.method === 'views.open');
  });
});

describe('the reveal modal while Slack fails', () => {
  it('keeps the one-time key when views.open is rate-limited: the next press shows it', async () => {
    const from = t.slack.calls.length;
    await run(t, OWNER, 'keys create pay --name ci');
    const { value } = await vi.waitFor(() => {
      const dm = t.slack.calls.slice(from).find((c) => c.method === 'chat.postMessage' && buttonsIn(c).some((b) => b.actionId === 'key_reveal'));
      if (!dm) throw new Error('no DM yet');
      return buttonsIn(dm).find((b) => b.actionId === 'key_reveal')!;
    }, { timeout: 5000, interval: 20 });
    flaky.fail('views.open', [rateLimited(3)]);
    let at = t.slack.calls.length;
    await interact(t.port, buttonPayload(OWNER, 'key_reveal', value));
    const refusal = await waitForCall(t, at, (c) => c.method === 'response_url');
    expect(String(refusal.body.text)).toContain('ratelimited');
    at = t.slack.calls.length;
    await interact(t.port, buttonPayload(OWNER, 'key_reveal', value));
    const modal = await waitForCall(t, at, (c) => c.method === 'views.open');
    const shown = JSON.stringify(modal.body.view).match(/jj_[0-9a-f]{32}/)![0];
    expect((await readiness(t, 'pay', shown)).status).toBe(200);
  });
});

describe('a rate limit that lasts', () => {
  // Waiting out Slack's rate limit (RetryLater from the pacer) uses up no
  // attempt, and jobs retry for as long as their work matters: a long run
  // of 429s delays the card, never drops it.
  it('still posts the card, once, after twelve 429s in a row', async () => {
    await run(t, OWNER, `projects channel pay <#${CHANNEL}|approvals>`);
    flaky.fail('chat.postMessage', Array.from({ length: 12 }, () => rateLimited(1)), (b) => b.channel === CHANNEL);
    const id = await createApproval('deploy under a rate limit');
    await drive(async () => (await jobs('approval.post')).every((j) => j.status === 'done' || j.status === 'dead'));
    expect((await jobs('approval.post')).map((j) => j.status)).toEqual(['done']);
    expect(flaky.delivered('chat.postMessage', mentions(id))).toHaveLength(1);
  });
});
