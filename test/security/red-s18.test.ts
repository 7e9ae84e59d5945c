/**
 * Attacks on settings announcements and on the Owners' notice that blocked
 * decisions stopped reaching the approvals channel, the way Slack, a second
 * replica and a hostile project member meet them.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { BOT_USER, buttonPayload, FakeSlack, interact, type SlackCall } from '../helpers/slack.ts';
import { rearmRefusalNotice } from '../../src/services/policy-events.ts';
import { reveal, run } from '../e2e/keys-flow.ts';
import { settingsAnnounced } from '../helpers/announcements.ts';

const OWNER = 'U0OWNER';
const OWNER2 = 'U0OWNERB';
const MEMBER = 'U0MEMBER';
const CHANNEL = 'C0APPROVALS';

let t: TestApp;
let key: string;
let clock: { now: number };
/** Slack's answer to posts in the approvals channel: null takes them, else this error (`service_unavailable` as a 503). */
let refusing: string | null;

const posts = (): SlackCall[] => t.slack.calls.filter((c) => c.method === 'chat.postMessage' && c.ok === true && c.body.channel === CHANNEL);
const settingAnnouncements = () => posts().filter((c) => String(c.body.text).includes('changed a setting'));
const decisionAnnouncements = () => posts().filter((c) => String(c.body.text).includes('blocked or over budget'));
/** The DMs Slack took for `user` saying blocked decisions are no longer announced. */
const toldTo = (user: string): SlackCall[] =>
  t.slack.calls.filter((c) => c.method === 'chat.postMessage' && c.ok === true && c.body.channel === user && String(c.body.text).includes('no longer announced'));

/**
 * Moves the clock past the burst window and the pace between posts, then runs due jobs on every replica at once
 * until no job of `kinds` (a LIKE pattern) is left undone. The clock moves once: moved while a job runs, it would
 * outlast the job's lease and let the other replica take it too.
 */
async function drain(kinds: string) {
  clock.now += 61_000;
  await vi.waitFor(async () => {
    await t.runDue();
    expect(await t.app.db.raw("SELECT id FROM jobs WHERE kind LIKE ? AND status <> 'done'", [kinds])).toEqual([]);
  }, { timeout: 5000, interval: 20 });
}

/** One blocked decision pushed as an SDK does. */
async function pushBlocked(tool: string) {
  const res = await fetch(`http://127.0.0.1:${t.port}/v1/policy-audit/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      events: [{ ts: new Date(clock.now).toISOString(), run_id: 'r1', adapter: 'ts-sdk', host: 'typescript', tool, decision: 'BLOCKED', executed: false, schema_version: 1 }],
      path: 'direct',
    }),
  });
  expect(res.status).toBe(202);
}

beforeEach(async () => {
  clock = { now: Date.now() };
  refusing = null;
  const slack = new FakeSlack({ now: () => clock.now });
  for (const id of [OWNER, OWNER2, MEMBER]) slack.addUser({ id, email: `${id}@acme.test` });
  slack.addChannel({ id: CHANNEL, members: [BOT_USER, OWNER, OWNER2, MEMBER] });
  let ts = 0;
  slack.on('chat.postMessage', (b) => {
    if (refusing !== null && b.channel === CHANNEL) {
      return refusing === 'service_unavailable' ? [503, { ok: false, error: refusing }, {}] : { ok: false, error: refusing };
    }
    return { ok: true, channel: String(b.channel).replace(/^U/, 'D'), ts: `1700000${ts++}.000100` };
  });
  t = await startTestApp({ slack, now: () => clock.now, env: { JOBS_POLL_SECONDS: '3600' } });
  await run(t, OWNER, 'projects create payments');
  key = await reveal(t, OWNER);
  await run(t, OWNER, `members invite payments <@${OWNER2}> owner`);
  await run(t, OWNER, `members invite payments <@${MEMBER}> member`);
  await run(t, OWNER, `projects channel payments <#${CHANNEL}|approvals>`);
});
afterEach(async () => {
  await t?.stop();
});

describe('settings announcements held back by Slack', () => {
  it('never tell the channel a value the setting no longer has: changes queued during an outage announce only what is set when Slack is back', async () => {
    refusing = 'service_unavailable';
    await run(t, MEMBER, 'projects set payments approvals-required 2');
    await run(t, MEMBER, 'projects set payments approvals-required 1');
    await run(t, OWNER, 'projects set payments approvals-required 3');
    // Both replicas retry through the outage, in whatever order they claim the jobs.
    clock.now += 30_000;
    await t.runDue();
    refusing = null;
    await drain('projects.announce_setting');
    const said = settingAnnouncements().map((c) => String(c.body.text));
    // The last word in the channel is the value in force, and no superseded value was posted at all.
    expect(said.length).toBeGreaterThanOrEqual(1);
    for (const text of said) expect(text).toContain('*approvals-required* is now `3`');
    expect(said.at(-1)).toContain(`<@${OWNER}> changed a setting`);
  });

  it('changed back to the value of an announcement still held: that old announcement is not posted, only the latest change', async () => {
    refusing = 'service_unavailable';
    await run(t, MEMBER, 'projects set payments approvals-required 2');
    await run(t, MEMBER, 'projects set payments approvals-required 3');
    await run(t, OWNER, 'projects set payments approvals-required 2');
    clock.now += 30_000;
    await t.runDue();
    refusing = null;
    await drain('projects.announce_setting');
    const said = settingAnnouncements().map((c) => String(c.body.text));
    expect(said).toHaveLength(1);
    expect(said[0]).toContain('*approvals-required* is now `2`');
    expect(said[0]).toContain(`<@${OWNER}> changed a setting`);
  });
});

describe('the Owners\' notice that blocked decisions no longer reach the channel', () => {
  it('re-arms once Slack takes an announcement there again: a later refusal is told again, once', async () => {
    refusing = 'not_in_channel';
    await pushBlocked('deploy-prod');
    await drain('policy_events.%');
    expect(toldTo(OWNER)).toHaveLength(1);
    // The Owner fixes it the natural way (/invite the bot): announcements reach the channel again.
    refusing = null;
    await pushBlocked('db-drop');
    await drain('policy_events.%');
    expect(decisionAnnouncements()).toHaveLength(1);
    // Weeks later the channel is archived: nobody would ever hear of it.
    refusing = 'is_archived';
    for (const tool of ['rm-rf', 'curl']) {
      await pushBlocked(tool);
      await drain('policy_events.%');
    }
    for (const owner of [OWNER, OWNER2]) expect(toldTo(owner)).toHaveLength(2);
    expect(toldTo(MEMBER)).toEqual([]);
    expect(String(toldTo(OWNER)[1]!.body.text)).toContain('(`is_archived`)');
    // The project's API key (the SDK's) is in no Slack message, log line, audit event or job sent on the way.
    const secret = key.slice(3);
    expect(JSON.stringify(t.slack.calls.filter((c) => c.method === 'chat.postMessage'))).not.toContain(secret);
    expect(t.logs.join('\n')).not.toContain(secret);
    expect(JSON.stringify(await t.app.db.raw('SELECT details FROM audit_events'))).not.toContain(secret);
    expect(JSON.stringify(await t.app.db.raw('SELECT payload, last_error FROM jobs'))).not.toContain(secret);
  });

  it('is not re-armed by a post that went before the refusal another replica told: the Owners stay told', async () => {
    refusing = 'not_in_channel';
    await pushBlocked('deploy-prod');
    await drain('policy_events.%');
    const toldAt = async () => (await t.app.db.raw<{ at: number | null }>('SELECT decisions_refusal_told_at AS at FROM projects'))[0]!.at;
    const told = Number(await toldAt());
    expect(told).toBeGreaterThan(0);
    const projectId = (await t.app.db.raw<{ id: number }>('SELECT id FROM projects'))[0]!.id;
    // A replica whose post Slack took just before the refusal finishes late.
    await rearmRefusalNotice(t.app.services, Number(projectId), CHANNEL, told - 1);
    expect(Number(await toldAt())).toBe(told);
    // A post after it re-arms.
    await rearmRefusalNotice(t.app.services, Number(projectId), CHANNEL, told + 1);
    expect(await toldAt()).toBeNull();
  });
});

/**
 * A request escalated after 30 s whose channel card Slack holds back for 20 minutes (a 429 with Retry-After):
 * time passes in steps of 15 s, each replica running what is due, until Slack takes the card. `whileHeld` runs
 * once the escalation DMs went and the card is still held.
 */
async function escalatedWhileCardHeld(whileHeld?: (id: string) => Promise<void>) {
  await run(t, OWNER, 'projects set payments escalate-after 30s');
  await settingsAnnounced(t, clock);
  let limited = true;
  let ts = 0;
  t.slack.on('chat.postMessage', (b) => {
    if (b.channel === CHANNEL && limited) {
      limited = false;
      return [429, { ok: false, error: 'ratelimited' }, { 'retry-after': '1200' }];
    }
    return { ok: true, channel: String(b.channel).replace(/^U/, 'D'), ts: `1700001${ts++}.000100` };
  });
  const res = await fetch(`http://127.0.0.1:${t.port}/v1/approvals`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ action: 'fail over the database' }),
  });
  expect(res.status).toBe(201);
  const id = ((await res.json()) as { id: string }).id;
  // The card takes its paced turn in the channel a second after the settings announcement.
  await vi.waitFor(async () => {
    clock.now += 1_100;
    await t.runDue();
    expect(limited).toBe(false);
  }, { timeout: 5000, interval: 20 });
  const card = () => posts().find((c) => JSON.stringify(c.body.blocks ?? []).includes(id));
  const reply = () => posts().find((c) => c.body.thread_ts !== undefined);
  for (let i = 0; i < 100 && !card(); i++) {
    if (i === 10) {
      // The Owners had their escalation DMs meanwhile.
      expect(t.slack.calls.filter((c) => c.method === 'chat.postMessage' && c.ok === true && c.body.channel === OWNER2 && JSON.stringify(c.body).includes('Nobody has decided'))).toHaveLength(1);
      await whileHeld?.(id);
    }
    clock.now += 15_000;
    await t.runDue();
  }
  expect(card()).toBeDefined();
  expect(reply()).toBeUndefined();
  // A minute of the app's clock after the card.
  for (let i = 0; i < 4 && !reply(); i++) {
    clock.now += 15_000;
    await t.runDue();
  }
  return { id, reply };
}

describe('the escalation\'s thread reply waiting for a channel card held back by Slack', () => {
  it('goes within a minute of the card, not at the end of a backoff grown while it waited', async () => {
    const { id, reply } = await escalatedWhileCardHeld();
    expect(reply()).toBeDefined();
    const cardTs = (await t.app.db.raw<{ ts: string }>('SELECT ts FROM approval_cards WHERE approval_id = ? AND destination = ?', [id, CHANNEL]))[0]!.ts;
    expect(reply()!.body.thread_ts).toBe(cardTs);
    expect(String(reply()!.body.text)).toContain(`<@${OWNER}> <@${OWNER2}>`);
  });

  it('mentions only those still Admin or Owner when it goes: someone demoted or removed while it waited is not pinged about the request', async () => {
    const { reply } = await escalatedWhileCardHeld(async () => {
      await run(t, OWNER, `members role payments <@${OWNER2}> member`);
    });
    expect(reply()).toBeDefined();
    const text = String(reply()!.body.text);
    expect(text).toContain(`<@${OWNER}>`);
    expect(text).not.toContain(OWNER2);
  });

  it('leaves out whoever approved from their escalation DM while it waited: nobody is pinged about a request they already approved', async () => {
    await run(t, OWNER, 'projects set payments approvals-required 2');
    const { id, reply } = await escalatedWhileCardHeld(async (id) => {
      expect((await interact(t.port, buttonPayload(OWNER2, 'approval_approve', id, OWNER2.replace(/^U/, 'D')))).status).toBe(200);
      await vi.waitFor(async () => expect(await t.app.db.raw('SELECT user_id FROM approval_votes')).toHaveLength(1), { timeout: 5000, interval: 20 });
    });
    expect(reply()).toBeDefined();
    const text = String(reply()!.body.text);
    expect(text).toContain(`<@${OWNER}>`);
    expect(text).not.toContain(OWNER2);
    expect((await t.app.db.raw<{ status: string }>('SELECT status FROM approvals WHERE id = ?', [id]))[0]!.status).toBe('pending');
  });
});
