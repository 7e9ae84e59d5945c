/**
 * Two-person rule and escalation, through signed Slack requests and the SDK's
 * HTTP API: a request needs its quorum of distinct Members and above, any
 * Reject decides at once, an unanswered request is escalated once to the
 * Admins and Owners, and Owners hear once, grouped, of requests that expired.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { settingsAnnounced } from '../helpers/announcements.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { TEST_ENGINE, freshDatabaseUrl } from '../helpers/engine.ts';
import { BOT_USER, buttonPayload, FakeSlack, interact, sign, TEAM_ID, type SlackCall } from '../helpers/slack.ts';
import { reveal, run, waitForCall } from './keys-flow.ts';

const OWNER = 'U0OWNER';
const ADMIN = 'U0ADMIN';
const MEMBER = 'U0MEMBER';
const MEMBER2 = 'U0MEMBERB';
const READER = 'U0READER';
const ROOT = 'U0ROOT';
const CHANNEL = 'C0APPROVALS';

interface ApiJson {
  id?: string;
  status?: string;
  decided_by?: string;
  approvals?: { user: string; at: string }[];
}

let t: TestApp;
let key: string;
let clock: { now: number };
let dir: string | undefined;

function fakeSlack(): FakeSlack {
  // Slack's pace is measured on the same clock as the app's, which the tests move.
  const slack = new FakeSlack({ now: () => clock.now });
  for (const id of [OWNER, ADMIN, MEMBER, MEMBER2, READER, ROOT]) slack.addUser({ id, email: `${id}@acme.test` });
  slack.addChannel({ id: CHANNEL, members: [BOT_USER, OWNER, ADMIN, MEMBER, MEMBER2] });
  return slack;
}

async function setUp(env: Record<string, string> = {}) {
  t = await startTestApp({ slack: fakeSlack(), now: () => clock.now, env: { JOBS_POLL_SECONDS: '3600', ...env } });
  await run(t, OWNER, 'projects create payments');
  key = await reveal(t, OWNER);
  await run(t, OWNER, `members invite payments <@${ADMIN}> admin`);
  await run(t, OWNER, `members invite payments <@${MEMBER}> member`);
  await run(t, OWNER, `members invite payments <@${MEMBER2}> member`);
  await run(t, OWNER, `members invite payments <@${READER}> read_only`);
  await run(t, OWNER, `projects channel payments <#${CHANNEL}|approvals>`);
}

beforeEach(() => {
  clock = { now: Date.now() };
});
afterEach(async () => {
  await t?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

const api = {
  async create(action: string) {
    await settingsAnnounced(t, clock);
    // Slack takes about one post a second per channel, paced by the app's clock: let that second pass.
    clock.now += 1100;
    const res = await fetch(`http://127.0.0.1:${t.port}/v1/approvals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as ApiJson).id!;
  },
  async get(id: string): Promise<ApiJson> {
    const res = await fetch(`http://127.0.0.1:${t.port}/v1/approvals/${id}`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as ApiJson;
  },
};

const press = (user: string, id: string, action = 'approval_approve') => interact(t.port, buttonPayload(user, action, id, CHANNEL));
const answersTo = (user: string, from: number) =>
  t.slack.calls.slice(from).filter((c) => c.method === 'response_url' && String(c.body.text ?? '').length > 0).map((c) => String(c.body.text));
const cardOf = (id: string) => waitForCall(t, 0, (c) => c.method === 'chat.postMessage' && c.body.channel === CHANNEL && JSON.stringify(c.body.blocks ?? []).includes(id));
const statusOf = async (id: string) => ((await t.app.db.raw('SELECT status FROM approvals WHERE id = ?', [id]))[0] as { status: string }).status;
const audits = async (action: string) => (await t.app.db.raw('SELECT details FROM audit_events WHERE action = ?', [action])) as { details: string }[];
const lastEdit = (from = 0): SlackCall | undefined => t.slack.calls.slice(from).filter((c) => c.method === 'chat.update').at(-1);
const dmsTo = (user: string, from = 0) => t.slack.calls.slice(from).filter((c) => c.method === 'chat.postMessage' && c.body.channel === user);

/** Presses Approve and waits for the answer the presser gets (a vote counted, a refusal). */
async function approveAs(user: string, id: string): Promise<string> {
  const from = t.slack.calls.length;
  expect((await press(user, id)).status).toBe(200);
  await waitForCall(t, from, (c) => c.method === 'response_url');
  return answersTo(user, from).join('\n');
}

/** Presses the Approve that reaches the quorum (nobody is told anything) and waits for the decision. */
async function decideAs(user: string, id: string): Promise<void> {
  expect((await press(user, id)).status).toBe(200);
  await vi.waitFor(async () => expect(await statusOf(id)).toBe('approved'), { timeout: 5000, interval: 20 });
}

describe('approvals-required', () => {
  beforeEach(async () => setUp());

  it('quorum of 2: a second press by the same person counts once; the API says approved only at the quorum and lists who approved', async () => {
    expect((await run(t, MEMBER, 'projects set payments approvals-required 2')).text).toContain('need 2 different people');
    const id = await api.create('deploy payments to prod');
    await cardOf(id);

    // The SDK's loop, polling all along: it must never see `approved` before two people approved.
    const seen: ApiJson[] = [];
    let stop = false;
    const polling = (async () => {
      while (!stop) {
        const json = await api.get(id);
        seen.push(json);
        if (json.status === 'approved' || json.status === 'rejected') return json;
        await new Promise((r) => setTimeout(r, 10));
      }
      return null;
    })();

    expect(await approveAs(MEMBER, id)).toContain('Your approval is counted (1 of 2)');
    expect(await approveAs(MEMBER, id)).toContain('You already approved this request; it needs 1 more approval');
    await vi.waitFor(() => expect(JSON.stringify(lastEdit()?.body.blocks)).toContain('Approvals: 1 of 2'), { timeout: 5000, interval: 20 });
    expect(JSON.stringify(lastEdit()?.body.blocks)).toContain(`<@${MEMBER}>`);
    const halfway = await api.get(id);
    expect(halfway).toMatchObject({ status: 'pending', approvals: [{ user: MEMBER, at: expect.any(String) }] });
    expect(halfway.decided_by).toBeUndefined();

    await press(ADMIN, id);
    const decided = await Promise.race([polling, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
    stop = true;
    expect(decided).toMatchObject({ status: 'approved', decided_by: ADMIN, approvals: [{ user: MEMBER }, { user: ADMIN }] });
    for (const json of seen) if (json.status === 'approved') expect(json.approvals).toHaveLength(2);
    expect(seen.filter((j) => j.status === 'pending').length).toBeGreaterThan(0);
    await vi.waitFor(() => expect(JSON.stringify(lastEdit()?.body.blocks)).toContain('Approved'), { timeout: 5000, interval: 20 });
    const final = JSON.stringify(lastEdit()!.body.blocks);
    expect(final).toContain(`<@${MEMBER}>, <@${ADMIN}> (2 of 2)`);
    expect(final).not.toContain('approval_approve');
    expect(await audits('approval.vote')).toHaveLength(1);
    expect(await audits('approval.approved')).toHaveLength(1);
    // A press after the decision is told who decided.
    expect(await approveAs(OWNER, id)).toContain(`already approved by <@${ADMIN}>`);
  });

  it('quorum of 3 with repeated presses: only the third distinct person decides', async () => {
    await run(t, OWNER, 'projects set payments approvals-required 3');
    const id = await api.create('drop the staging database');
    await cardOf(id);
    await approveAs(OWNER, id);
    await approveAs(OWNER, id);
    await approveAs(MEMBER, id);
    expect(await approveAs(MEMBER, id)).toContain('You already approved');
    expect(await statusOf(id)).toBe('pending');
    expect((await api.get(id)).approvals!.map((v) => v.user)).toEqual([OWNER, MEMBER]);
    expect((await run(t, READER, 'approvals list payments')).text).toContain('approvals 2 of 3');
    await decideAs(MEMBER2, id);
    expect(await api.get(id)).toMatchObject({ status: 'approved', decided_by: MEMBER2 });
    expect((await api.get(id)).approvals!.map((v) => v.user)).toEqual([OWNER, MEMBER, MEMBER2]);
  });

  it('a Reject after one approval decides at once', async () => {
    await run(t, OWNER, 'projects set payments approvals-required 2');
    const id = await api.create('delete the audit bucket');
    await cardOf(id);
    await approveAs(MEMBER, id);
    const from = t.slack.calls.length;
    await press(ADMIN, id, 'approval_reject');
    const modal = await waitForCall(t, from, (c) => c.method === 'views.open');
    const view = modal.body.view as { callback_id: string; private_metadata: string };
    await interact(t.port, {
      type: 'view_submission',
      team: { id: TEAM_ID },
      user: { id: ADMIN },
      api_app_id: 'A0APP',
      view: { id: 'V1', callback_id: view.callback_id, private_metadata: view.private_metadata, state: { values: { reason: { text: { type: 'plain_text_input', value: 'too risky' } } } } },
    });
    expect(await api.get(id)).toMatchObject({ status: 'rejected', decided_by: ADMIN, approvals: [{ user: MEMBER }] });
    expect(await approveAs(OWNER, id)).toContain(`already rejected by <@${ADMIN}>`);
  });

  it('concurrent presses (spread over the replicas on PostgreSQL) count exactly once each', async () => {
    await run(t, OWNER, 'projects set payments approvals-required 3');
    const id = await api.create('rotate the signing key');
    await cardOf(id);
    const people = [OWNER, ADMIN, MEMBER, MEMBER2];
    const from = t.slack.calls.length;
    const answers = await Promise.all(Array.from({ length: 16 }, (_, i) => press(people[i % 4]!, id)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    // Slack is answered first; the presses are then decided one transaction at a time.
    await vi.waitFor(async () => expect(await statusOf(id)).toBe('approved'), { timeout: 5000, interval: 20 });
    // Every losing press has been told something (counted, already approved, or who decided).
    await vi.waitFor(() => expect(t.slack.calls.slice(from).filter((c) => c.method === 'response_url')).toHaveLength(15), { timeout: 5000 });
    const json = await api.get(id);
    expect(json.approvals).toHaveLength(3);
    expect(new Set(json.approvals!.map((v) => v.user)).size).toBe(3);
    expect(json.decided_by).toBe(json.approvals![2]!.user);
    expect(await audits('approval.vote')).toHaveLength(2);
    expect(await audits('approval.approved')).toHaveLength(1);
    const votes = (await t.app.db.raw('SELECT user_id FROM approval_votes WHERE approval_id = ?', [id])) as { user_id: string }[];
    expect(votes).toHaveLength(3);
  });

  it('a member demoted between two approvals no longer counts; the card shows the lower count', async () => {
    await run(t, OWNER, 'projects set payments approvals-required 2');
    const id = await api.create('open the firewall');
    await cardOf(id);
    await approveAs(MEMBER, id);
    expect((await run(t, OWNER, `members role payments <@${MEMBER}> read_only`)).text).not.toContain(':warning:');
    expect(await approveAs(ADMIN, id)).toContain('Your approval is counted (1 of 2)');
    expect(await api.get(id)).toMatchObject({ status: 'pending', approvals: [{ user: ADMIN }] });
    await vi.waitFor(() => expect(JSON.stringify(lastEdit()?.body.blocks)).toMatch(/Approvals: 1 of 2 — <@U0ADMIN>/), { timeout: 5000, interval: 20 });
    // The demoted member may not press again either.
    expect(await approveAs(MEMBER, id)).toContain('you are Read-only');
    await decideAs(OWNER, id);
    expect(await api.get(id)).toMatchObject({ status: 'approved', decided_by: OWNER, approvals: [{ user: ADMIN }, { user: OWNER }] });
  });

  it('a request keeps the quorum it was created with: lowering the setting decides nothing by one press', async () => {
    await run(t, OWNER, 'projects set payments approvals-required 2');
    const id = await api.create('scale down');
    await cardOf(id);
    await run(t, OWNER, 'projects set payments approvals-required 1');
    expect(await approveAs(MEMBER, id)).toContain('1 of 2');
    expect(await statusOf(id)).toBe('pending');
    const next = await api.create('scale up');
    await cardOf(next);
    await decideAs(MEMBER, next);
    expect(await api.get(next)).toMatchObject({ status: 'approved', decided_by: MEMBER, approvals: [{ user: MEMBER }] });
  });

  it('App Home shows how many approvals each request still needs', async () => {
    await run(t, OWNER, 'projects set payments approvals-required 2');
    const id = await api.create('restart the cluster');
    await cardOf(id);
    await approveAs(MEMBER, id);
    const from = t.slack.calls.length;
    const body = JSON.stringify({
      token: 'legacy',
      team_id: TEAM_ID,
      api_app_id: 'A0APP',
      type: 'event_callback',
      event_id: 'Ev0QUORUM',
      event_time: Math.floor(Date.now() / 1000),
      event: { type: 'app_home_opened', user: ADMIN, channel: `D${ADMIN}`, tab: 'home', event_ts: '1700000000.000100' },
    });
    const res = await fetch(`http://127.0.0.1:${t.port}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...sign(body) }, body });
    expect(res.status).toBe(200);
    const home = await waitForCall(t, from, (c) => c.method === 'views.publish' && c.body.user_id === ADMIN);
    expect(JSON.stringify(home.body.view)).toContain('needs 1 more approval (1 of 2)');
    // The member who approved it is not offered it again: it waits for others.
    const again = t.slack.calls.length;
    const mine = body.replace(`"user":"${ADMIN}","channel":"D${ADMIN}"`, `"user":"${MEMBER}","channel":"D${MEMBER}"`).replace('Ev0QUORUM', 'Ev0QUORUM2');
    expect((await fetch(`http://127.0.0.1:${t.port}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...sign(mine) }, body: mine })).status).toBe(200);
    const memberHome = await waitForCall(t, again, (c) => c.method === 'views.publish' && c.body.user_id === MEMBER);
    expect(JSON.stringify(memberHome.body.view)).not.toContain(id);
  });
});

describe('who counts', () => {
  beforeEach(async () => setUp({ JAMJET_ADMIN_USERS: ROOT }));

  it('a member removed between two approvals no longer counts; someone in JAMJET_ADMIN_USERS counts without a role', async () => {
    await run(t, OWNER, 'projects set payments approvals-required 2');
    const id = await api.create('restore the backup');
    await cardOf(id);
    await approveAs(MEMBER, id);
    await run(t, OWNER, `members remove payments <@${MEMBER}>`);
    expect(await approveAs(MEMBER2, id)).toContain('Your approval is counted (1 of 2)');
    expect((await api.get(id)).approvals!.map((v) => v.user)).toEqual([MEMBER2]);
    await decideAs(ROOT, id);
    expect(await api.get(id)).toMatchObject({ status: 'approved', decided_by: ROOT, approvals: [{ user: MEMBER2 }, { user: ROOT }] });
    // The vote that stopped counting is not kept with the decided request.
    expect(await t.app.db.raw('SELECT user_id FROM approval_votes WHERE approval_id = ? ORDER BY position', [id])).toEqual([{ user_id: MEMBER2 }, { user_id: ROOT }]);
  });
});

describe('settings: who may change them, and bad input', () => {
  beforeEach(async () => setUp());

  it('Member and above may set both; Read-only may not; projects info shows them', async () => {
    for (const [user, ok] of [[OWNER, true], [ADMIN, true], [MEMBER, true], [READER, false]] as const) {
      const a = (await run(t, user, 'projects set payments approvals-required 2')).text;
      const b = (await run(t, user, 'projects set payments escalate-after 15m')).text;
      for (const text of [a, b]) expect(text, `${user}: ${text}`).toContain(ok ? ':white_check_mark:' : 'you are Read-only');
    }
    const info = (await run(t, READER, 'projects info payments')).text;
    expect(info).toContain('Approvals required: 2');
    expect(info).toContain('Escalate after: 15m');
    expect(await audits('project.approvals_required_set')).toHaveLength(3);
    expect(await audits('project.escalate_after_set')).toHaveLength(3);
    // Announced in the approvals channel. A change made while an earlier one of the same setting still waits for
    // its turn (Slack takes a post a second in a channel) is announced in its place: the last word on each
    // setting is its latest change, with the value in force.
    await settingsAnnounced(t, clock);
    const said = t.slack.calls
      .filter((c) => c.method === 'chat.postMessage' && c.ok === true && c.body.channel === CHANNEL && String(c.body.text).includes('changed a setting'))
      .map((c) => String(c.body.text));
    expect(said.length).toBeGreaterThanOrEqual(2);
    expect(said.length).toBeLessThanOrEqual(6);
    for (const [setting, value] of [['approvals-required', '2'], ['escalate-after', '15m']]) {
      const about = said.filter((text) => text.includes(`*${setting}* is now`));
      expect(about.every((text) => text.includes(`*${setting}* is now \`${value}\``))).toBe(true);
      expect(about.at(-1)).toContain(`:gear: <@${MEMBER}> changed a setting`);
    }
    expect((await run(t, OWNER, 'projects set payments escalate-after off')).text).toContain('no longer escalated');
    expect((await run(t, OWNER, 'projects info payments')).text).toContain('Escalate after: off');
  });

  it('refuses bad values with one sentence and the usage line, and changes nothing', async () => {
    await run(t, OWNER, 'projects set payments approval-timeout 1h');
    await run(t, OWNER, 'projects set payments escalate-after 10m');
    const before = (await run(t, OWNER, 'projects info payments')).text;
    const eventsBefore = (await t.app.db.raw('SELECT count(*) AS n FROM audit_events'))[0];
    for (const [text, expected] of [
      ['approvals-required 0', '`0` is not a number of approvals'],
      ['approvals-required 6', '`6` is not a number of approvals'],
      ['approvals-required two', '`two` is not a number of approvals'],
      ['approvals-required 1.5', '`1.5` is not a number of approvals'],
      ['escalate-after soon', '`soon` is not a duration'],
      ['escalate-after 5x', '`5x` is not a duration'],
      ['escalate-after 10s', 'at least 30 seconds'],
      ['escalate-after 1h', 'expire after 1h, so escalate-after must be shorter'],
      ['escalate-after 2h', 'expire after 1h, so escalate-after must be shorter'],
      ['approval-timeout 10m', 'escalated after 10m, so the approval timeout must be longer'],
      ['approval-timeout 5m', 'escalated after 10m, so the approval timeout must be longer'],
    ] as const) {
      const reply = (await run(t, OWNER, `projects set payments ${text}`)).text;
      expect(reply, text).toContain(expected);
      expect(reply, text).toContain('Usage: `/jamjet projects set <project>');
    }
    expect((await run(t, OWNER, 'projects info payments')).text).toBe(before);
    expect((await t.app.db.raw('SELECT count(*) AS n FROM audit_events'))[0]).toEqual(eventsBefore);
  });
});

describe('escalate-after', () => {
  beforeEach(async () => setUp());

  it('escalates once, at its time: a thread reply mentioning Admins and Owners, and a DM with the buttons to each; a DM decision edits every card', async () => {
    await run(t, OWNER, 'projects set payments approval-timeout 1h');
    await run(t, MEMBER, 'projects set payments escalate-after 15m');
    const id = await api.create('wire money');
    await cardOf(id);
    const from = t.slack.calls.length;
    clock.now += 15 * 60_000 - 1000;
    await t.runDue();
    expect(t.slack.calls.slice(from).filter((c) => c.method === 'chat.postMessage')).toHaveLength(0);

    clock.now += 1001;
    for (let i = 0; i < 3; i++) await t.runDue();
    const threads = t.slack.calls.slice(from).filter((c) => c.method === 'chat.postMessage' && c.body.thread_ts !== undefined);
    expect(threads).toHaveLength(1);
    const posted = (await t.app.db.raw('SELECT ts FROM approval_cards WHERE approval_id = ? AND destination = ?', [id, CHANNEL]))[0] as { ts: string };
    expect(threads[0]!.body).toMatchObject({ channel: CHANNEL, thread_ts: posted.ts });
    expect(String(threads[0]!.body.text)).toContain(`<@${OWNER}>`);
    expect(String(threads[0]!.body.text)).toContain(`<@${ADMIN}>`);
    expect(String(threads[0]!.body.text)).not.toContain(`<@${MEMBER}>`);
    for (const user of [OWNER, ADMIN]) {
      const dms = dmsTo(user, from);
      expect(dms, user).toHaveLength(1);
      expect(JSON.stringify(dms[0]!.body.blocks)).toContain('approval_approve');
      expect(JSON.stringify(dms[0]!.body.blocks)).toContain('Nobody has decided this request yet');
    }
    for (const user of [MEMBER, MEMBER2, READER]) expect(dmsTo(user, from)).toHaveLength(0);
    expect(await audits('approval.escalated')).toHaveLength(1);
    // The channel card says it was escalated.
    await vi.waitFor(() => expect(JSON.stringify(lastEdit(from)?.body.blocks)).toContain('Escalated'), { timeout: 5000, interval: 20 });

    // Decided from a DM: the channel card and both DMs show the outcome.
    const edits = t.slack.calls.length;
    await interact(t.port, buttonPayload(ADMIN, 'approval_approve', id, `D${ADMIN.slice(1)}`));
    await vi.waitFor(() => {
      const edited = t.slack.calls.slice(edits).filter((c) => c.method === 'chat.update' && JSON.stringify(c.body.blocks).includes('Approved'));
      expect(new Set(edited.map((c) => c.body.channel))).toEqual(new Set([CHANNEL, `D${OWNER.slice(1)}`, `D${ADMIN.slice(1)}`]));
    }, { timeout: 5000, interval: 20 });
    clock.now += 60 * 60_000;
    await t.runDue();
    expect(await audits('approval.escalated')).toHaveLength(1);
  });

  it('a Slack failure during the escalation is retried: each message arrives once, none is lost', async () => {
    await run(t, OWNER, 'projects set payments escalate-after 5m');
    const id = await api.create('resize the volume');
    await cardOf(id);
    const failures = { thread: 1, admin: 2 };
    let ts = 1_700_000_500;
    t.slack.on('chat.postMessage', (b) => {
      if (b.thread_ts !== undefined && failures.thread-- > 0) return { ok: false, error: 'internal_error' };
      if (b.channel === ADMIN && failures.admin-- > 0) return { ok: false, error: 'internal_error' };
      return { ok: true, channel: String(b.channel).replace(/^U/, 'D'), ts: `${ts++}.000100` };
    });
    const from = t.slack.calls.length;
    clock.now += 5 * 60_000;
    for (let i = 0; i < 4; i++) {
      await t.runDue();
      clock.now += 61_000;
    }
    const delivered = t.slack.calls.slice(from).filter((c) => c.method === 'chat.postMessage' && c.ok === true);
    expect(delivered.filter((c) => c.body.thread_ts !== undefined)).toHaveLength(1);
    expect(delivered.filter((c) => c.body.channel === ADMIN)).toHaveLength(1);
    expect(delivered.filter((c) => c.body.channel === OWNER)).toHaveLength(1);
    expect(t.slack.calls.slice(from).filter((c) => c.body.channel === ADMIN)).toHaveLength(3);
  });

  it('the thread reply waits for a channel card still retrying, though the escalation DMs went out first', async () => {
    await run(t, OWNER, 'projects set payments escalate-after 5m');
    // Announced before Slack starts failing the channel's posts (it would be retried through the failure, like the card).
    await settingsAnnounced(t, clock);
    let down = true;
    let ts = 1_700_000_900;
    t.slack.on('chat.postMessage', (b) => {
      if (b.channel === CHANNEL && down) return { ok: false, error: 'internal_error' };
      return { ok: true, channel: String(b.channel).replace(/^U/, 'D'), ts: `${ts++}.000100` };
    });
    const from = t.slack.calls.length;
    const id = await api.create('fail over the database');
    await waitForCall(t, from, (c) => c.method === 'chat.postMessage' && c.body.channel === CHANNEL && c.ok === false);
    clock.now += 5 * 60_000;
    for (let i = 0; i < 3; i++) {
      await t.runDue();
      clock.now += 30_000;
    }
    // The Admin and the Owner have their DMs; the thread reply has nowhere to go yet and waits.
    expect(dmsTo(OWNER, from)).toHaveLength(1);
    expect(dmsTo(ADMIN, from)).toHaveLength(1);
    expect(t.slack.calls.slice(from).filter((c) => c.body.thread_ts !== undefined)).toHaveLength(0);
    const waiting = await t.app.db.raw<{ status: string }>('SELECT status FROM jobs WHERE kind = ?', ['approval.escalate_thread']);
    expect(waiting).toEqual([{ status: 'pending' }]);

    down = false;
    await vi.waitFor(
      async () => {
        clock.now += 5 * 60_000;
        await t.runDue();
        expect(t.slack.calls.slice(from).filter((c) => c.method === 'chat.postMessage' && c.ok === true && c.body.thread_ts !== undefined)).toHaveLength(1);
      },
      { timeout: 5000, interval: 50 },
    );
    const card = (await t.app.db.raw<{ ts: string }>('SELECT ts FROM approval_cards WHERE approval_id = ? AND destination = ?', [id, CHANNEL]))[0]!;
    const reply = t.slack.calls.slice(from).find((c) => c.method === 'chat.postMessage' && c.ok === true && c.body.thread_ts !== undefined)!;
    expect(reply.body).toMatchObject({ channel: CHANNEL, thread_ts: card.ts });
    expect(String(reply.body.text)).toContain(`<@${OWNER}>`);
    expect(await t.app.db.raw<{ status: string }>('SELECT status FROM jobs WHERE kind = ?', ['approval.escalate_thread'])).toEqual([{ status: 'done' }]);
  });

  it('the thread reply stops waiting once the channel card\'s job gave up for good: the DMs do the asking', async () => {
    await run(t, OWNER, 'projects set payments escalate-after 5m');
    // Announced before Slack starts failing the channel's posts (it would be retried through the failure, like the card).
    await settingsAnnounced(t, clock);
    let ts = 1_700_000_950;
    t.slack.on('chat.postMessage', (b) => (b.channel === CHANNEL ? { ok: false, error: 'internal_error' } : { ok: true, channel: String(b.channel).replace(/^U/, 'D'), ts: `${ts++}.000100` }));
    const from = t.slack.calls.length;
    await api.create('fail back the database');
    await waitForCall(t, from, (c) => c.method === 'chat.postMessage' && c.body.channel === CHANNEL && c.ok === false);
    await vi.waitFor(async () => expect(await t.app.db.raw("SELECT status FROM jobs WHERE kind = 'approval.post'")).toEqual([{ status: 'pending' }]), { timeout: 5000, interval: 20 });
    // As a queue with a bound on attempts leaves it: given up.
    await t.app.db.raw("UPDATE jobs SET status = 'dead', finished_at = ? WHERE kind = 'approval.post'", [clock.now]);
    clock.now += 5 * 60_000;
    for (let i = 0; i < 3; i++) {
      await t.runDue();
      clock.now += 30_000;
    }
    expect(dmsTo(OWNER, from)).toHaveLength(1);
    expect(dmsTo(ADMIN, from)).toHaveLength(1);
    expect(t.slack.calls.slice(from).filter((c) => c.body.thread_ts !== undefined)).toHaveLength(0);
    expect(await t.app.db.raw<{ status: string }>('SELECT status FROM jobs WHERE kind = ?', ['approval.escalate_thread'])).toEqual([{ status: 'done' }]);
  });

  it('a request decided before its time is not escalated; one created with escalation off never is', async () => {
    await run(t, OWNER, 'projects set payments escalate-after 5m');
    const decided = await api.create('first');
    await cardOf(decided);
    await decideAs(MEMBER, decided);
    await run(t, OWNER, 'projects set payments escalate-after off');
    const quiet = await api.create('second');
    await cardOf(quiet);
    const from = t.slack.calls.length;
    clock.now += 10 * 60_000;
    await t.runDue();
    expect(t.slack.calls.slice(from).filter((c) => c.method === 'chat.postMessage')).toHaveLength(0);
    expect(await audits('approval.escalated')).toHaveLength(0);
  });

  it('escalate-after turned off stops the escalation of requests already pending, as the reply says', async () => {
    await run(t, OWNER, 'projects set payments escalate-after 5m');
    const id = await api.create('rotate the signing key');
    await cardOf(id);
    expect((await run(t, OWNER, 'projects set payments escalate-after off')).text).toContain('no longer escalated');
    await settingsAnnounced(t, clock);
    const from = t.slack.calls.length;
    clock.now += 10 * 60_000;
    await t.runDue();
    await t.runDue();
    expect(t.slack.calls.slice(from).filter((c) => c.method === 'chat.postMessage')).toHaveLength(0);
    expect(await audits('approval.escalated')).toHaveLength(0);
    expect((await t.app.db.raw<{ escalated_at: number | null }>('SELECT escalated_at FROM approvals WHERE id = ?', [id]))[0]!.escalated_at).toBeNull();
  });

  it('those who already approved are left out before the bound of ten: every other Admin and Owner is asked', async () => {
    const more = Array.from({ length: 10 }, (_, i) => `U0ADMIN${i}`);
    for (const id of more) t.slack.addUser({ id, email: `${id}@acme.test` });
    for (const id of more) await run(t, OWNER, `members invite payments <@${id}> admin`);
    await run(t, OWNER, 'projects set payments approvals-required 3');
    await run(t, OWNER, 'projects set payments escalate-after 5m');
    const id = await api.create('drop the staging database');
    await cardOf(id);
    await approveAs(OWNER, id);
    await approveAs(ADMIN, id);
    const from = t.slack.calls.length;
    clock.now += 5 * 60_000;
    for (let i = 0; i < 3; i++) await t.runDue();
    for (const admin of more) expect(dmsTo(admin, from), admin).toHaveLength(1);
    expect(dmsTo(OWNER, from)).toHaveLength(0);
    expect(dmsTo(ADMIN, from)).toHaveLength(0);
  });

  it('without an approvals channel the Owners have the card already: the Admins get it', async () => {
    await run(t, OWNER, 'projects channel payments off');
    await run(t, OWNER, 'projects set payments escalate-after 5m');
    const id = await api.create('purge cache');
    await waitForCall(t, 0, (c) => c.method === 'chat.postMessage' && c.body.channel === OWNER && JSON.stringify(c.body.blocks ?? []).includes(id));
    const from = t.slack.calls.length;
    clock.now += 5 * 60_000;
    await t.runDue();
    await t.runDue();
    expect(dmsTo(ADMIN, from)).toHaveLength(1);
    expect(dmsTo(OWNER, from)).toHaveLength(0);
    expect(t.slack.calls.slice(from).filter((c) => c.body.thread_ts !== undefined)).toHaveLength(0);
  });
});

describe('expiry', () => {
  beforeEach(async () => setUp());

  it('edits the cards to say so and tells each Owner once, in one grouped DM', async () => {
    await run(t, OWNER, `members role payments <@${ADMIN}> owner`);
    await run(t, OWNER, 'projects set payments approval-timeout 2m');
    const ids: string[] = [];
    for (const action of ['one', 'two', 'three']) {
      ids.push(await api.create(action));
      await cardOf(ids.at(-1)!);
    }
    const from = t.slack.calls.length;
    clock.now += 2 * 60_000 + 1;
    await t.runDue();
    await vi.waitFor(() => {
      const edited = t.slack.calls.slice(from).filter((c) => c.method === 'chat.update' && c.ok === true && JSON.stringify(c.body.blocks).includes('Expired'));
      expect(new Set(edited.map((c) => c.body.ts)).size).toBe(3);
    }, { timeout: 5000, interval: 20 });
    expect(dmsTo(OWNER, from)).toHaveLength(0);
    clock.now += 61_000;
    for (let i = 0; i < 3; i++) await t.runDue();
    for (const owner of [OWNER, ADMIN]) {
      const dms = dmsTo(owner, from);
      expect(dms, owner).toHaveLength(1);
      expect(String(dms[0]!.body.text)).toContain('3 approval requests in `payments` expired without a decision');
      for (const id of ids) expect(String(dms[0]!.body.text)).toContain(id);
    }
    expect(dmsTo(MEMBER, from)).toHaveLength(0);
  });
});

describe('expiry of many requests', () => {
  beforeEach(async () => setUp());

  it('pages the grouped notice: the first 10 requests, then how many more', async () => {
    await run(t, OWNER, 'projects set payments approval-timeout 1m');
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      ids.push(await api.create(`step ${i}`));
      await cardOf(ids.at(-1)!);
    }
    const from = t.slack.calls.length;
    clock.now += 2 * 60_000;
    for (let i = 0; i < 4; i++) {
      await t.runDue();
      clock.now += 61_000;
    }
    const dms = dmsTo(OWNER, from);
    expect(dms).toHaveLength(1);
    const text = String(dms[0]!.body.text);
    expect(text).toContain('12 approval requests in `payments` expired');
    expect(text).toContain('…and 2 more');
    expect(ids.filter((id) => text.includes(id))).toHaveLength(10);
  });
});

/** A database file (SQLite) or database (PostgreSQL) that outlives one app, for restarts. */
async function lastingDatabaseUrl(): Promise<string> {
  if (TEST_ENGINE === 'postgres') return await freshDatabaseUrl();
  dir = mkdtempSync(join(tmpdir(), 'jamjet-quorum-'));
  return `sqlite:${join(dir, 'jamjet.db')}`;
}

describe('durable across a restart', () => {
  it('someone taken out of JAMJET_ADMIN_USERS: their approval of a pending request counts by their project role after the restart, and is withdrawn without one', async () => {
    const url = await lastingDatabaseUrl();
    await setUp({ DATABASE_URL: url, JAMJET_ADMIN_USERS: `${ROOT},${MEMBER}` });
    await run(t, OWNER, 'projects set payments approvals-required 2');
    const pending = await api.create('rotate the root password');
    await cardOf(pending);
    const kept = await api.create('restart the cache');
    await cardOf(kept);
    expect(await approveAs(ROOT, pending)).toContain('Your approval is counted (1 of 2)');
    expect(await approveAs(MEMBER, kept)).toContain('Your approval is counted (1 of 2)');
    await t.stop();

    t = await startTestApp({ slack: fakeSlack(), now: () => clock.now, env: { JOBS_POLL_SECONDS: '3600', DATABASE_URL: url, JAMJET_ADMIN_USERS: MEMBER } });
    // ROOT holds no role in the project: the vote no longer counts. MEMBER is still listed (and a Member anyway).
    expect((await api.get(pending)).approvals).toEqual([]);
    expect((await api.get(kept)).approvals!.map((v) => v.user)).toEqual([MEMBER]);
    expect(t.logs.some((l) => l.includes('no longer in JAMJET_ADMIN_USERS'))).toBe(true);
    // Withdrawn, not just uncounted: made a Member now, ROOT's approval from before does not come back.
    const withdrawn = (await audits('approval.votes_withdrawn')).map((e) => JSON.parse(e.details) as unknown);
    expect(withdrawn).toEqual([{ user: ROOT, approvals: [pending], reason: 'no longer in JAMJET_ADMIN_USERS' }]);
    await run(t, OWNER, `members invite payments <@${ROOT}> member`);
    expect((await api.get(pending)).approvals).toEqual([]);
    expect(await approveAs(MEMBER2, pending)).toContain('Your approval is counted (1 of 2)');
  });

  it('a request scheduled for escalation before a restart is escalated once by the new process', async () => {
    const url = await lastingDatabaseUrl();
    await setUp({ DATABASE_URL: url });
    await run(t, OWNER, 'projects set payments escalate-after 10m');
    const id = await api.create('migrate the schema');
    await cardOf(id);
    await t.stop();

    clock.now += 10 * 60_000;
    const slack = fakeSlack();
    t = await startTestApp({ slack, now: () => clock.now, env: { JOBS_POLL_SECONDS: '3600', DATABASE_URL: url } });
    for (let i = 0; i < 3; i++) await t.runDue();
    expect(slack.calls.filter((c) => c.method === 'chat.postMessage' && c.body.thread_ts !== undefined)).toHaveLength(1);
    expect(slack.calls.filter((c) => c.method === 'chat.postMessage' && (c.body.channel === OWNER || c.body.channel === ADMIN))).toHaveLength(2);
    expect(await audits('approval.escalated')).toHaveLength(1);
  });
});

describe('a card edited from two replicas at once', () => {
  beforeEach(async () => setUp());

  // One process runs its jobs one after another; two replicas edit the same card at the same moment.
  it.skipIf(TEST_ENGINE !== 'postgres')('ends showing the request as it is, whichever edit Slack takes last', async () => {
    await run(t, OWNER, 'projects set payments approvals-required 2');
    const id = await api.create('drop the staging database');
    await cardOf(id);
    await t.runDue();
    // The edit saying "1 of 2" leaves one replica and is slow to reach Slack...
    const slow = t.slack.hold('chat.update');
    expect((await press(MEMBER, id)).status).toBe(200);
    await slow.reached;
    // ...while the second approval decides the request and the other replica edits the card first.
    await decideAs(ADMIN, id);
    for (const replica of t.replicas) void replica.jobs.runDue();
    await vi.waitFor(() => expect(JSON.stringify(lastEdit()?.body.blocks)).toContain('Approved'), { timeout: 5000, interval: 20 });
    slow.release();
    await vi.waitFor(
      async () => {
        await t.runDue();
        expect(await t.app.db.raw("SELECT id FROM jobs WHERE kind = 'approval.refresh' AND status <> 'done'")).toEqual([]);
      },
      { timeout: 5000, interval: 20 },
    );
    const edits = t.slack.calls.filter((c) => c.method === 'chat.update');
    expect(edits.some((c) => JSON.stringify(c.body.blocks).includes('Approvals: 1 of 2'))).toBe(true);
    expect(JSON.stringify(edits.at(-1)!.body.blocks)).toContain('Approved');
    expect(JSON.stringify(edits.at(-1)!.body.blocks)).not.toContain('Approvals: 1 of 2');
  });
});
