/**
 * When Slack refuses a call made for someone who just acted (a rate limit on
 * views.open, users.info or a DM), that person is told what happened and
 * what to do, never left with a button that did nothing or a reply blaming
 * the bot; a burst of DMs waits out a short Retry-After instead of falling
 * back to replies Slack only takes five of.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { BOT_USER, buttonPayload, FakeSlack, interact, sign, TEAM_ID } from '../helpers/slack.ts';
import { readiness, reveal, run } from './keys-flow.ts';

const OWNER = 'U0OWNER';
const CHANNEL = 'C0APPROVALS';
const RATE_LIMITED = () => [429, { ok: false, error: 'ratelimited' }, { 'retry-after': '7' }] as [number, Record<string, unknown>, Record<string, string>];

let t: TestApp;
let key: string;

beforeEach(async () => {
  const slack = new FakeSlack().addUser({ id: OWNER, email: 'owner@acme.test' }).addChannel({ id: CHANNEL, members: [BOT_USER, OWNER] });
  t = await startTestApp({ slack, env: { JOBS_POLL_SECONDS: '3600' } });
  await run(t, OWNER, 'projects create pay');
  key = await reveal(t, OWNER);
});
afterEach(async () => {
  await t.stop();
});

const ephemeralsSince = (from: number) =>
  t.slack.calls.slice(from).filter((c) => c.method === 'response_url' && c.body.replace_original === false).map((c) => String(c.body.text));

describe('a window Slack would not open', () => {
  it('tells the person who pressed Reject, and the request stays pending', async () => {
    await run(t, OWNER, `projects channel pay <#${CHANNEL}|approvals>`);
    const res = await fetch(`http://127.0.0.1:${t.port}/v1/approvals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'deploy', context: {} }),
    });
    const { id } = (await res.json()) as { id: string };
    await t.runDue();
    t.slack.on('views.open', RATE_LIMITED);
    const from = t.slack.calls.length;
    await interact(t.port, buttonPayload(OWNER, 'approval_reject', id, CHANNEL));
    await vi.waitFor(() => expect(ephemeralsSince(from)).toHaveLength(1), { timeout: 5000, interval: 20 });
    expect(ephemeralsSince(from)[0]).toMatch(/^:warning: Slack could not open the reject window \(`ratelimited`\); the request is still pending, press \*Reject\* again\.$/);
    expect((await t.app.db.raw('SELECT status FROM approvals WHERE id = ?', [id]))[0]).toEqual({ status: 'pending' });
  });

  it('tells the person who pressed Revoke old key while the old key is in use, and revokes nothing', async () => {
    // The new key's DM is a follow-up, posted after the command's answer: look only at calls made since.
    const rotated = t.slack.calls.length;
    await run(t, OWNER, 'keys rotate pay');
    await reveal(t, OWNER, rotated);
    // The old key was used a moment ago: revoking asks for confirmation in a window.
    expect((await readiness(t, 'pay', key)).status).toBe(200);
    // Each replica writes the uses it saw every 5 s; the press may reach another replica than the use did, so let that time pass.
    for (const replica of t.replicas) await replica.usage.flush();
    const rotation = ((await t.app.db.raw('SELECT id FROM rotations'))[0] as { id: number }).id;
    t.slack.on('views.open', RATE_LIMITED);
    const from = t.slack.calls.length;
    await interact(t.port, buttonPayload(OWNER, 'rotation_revoke_old', String(rotation)));
    await vi.waitFor(() => expect(ephemeralsSince(from)).toHaveLength(1), { timeout: 5000, interval: 20 });
    expect(ephemeralsSince(from)[0]).toContain('Slack could not open the confirmation window (`ratelimited`); the old key is not revoked');
    expect((await readiness(t, 'pay', key)).status).toBe(200);
  });
});

describe('a command Slack rate-limits underneath', () => {
  it('says Slack asked to slow down and when to try again, not that the bot failed', async () => {
    t.slack.on('views.open', RATE_LIMITED);
    const deleting = await run(t, OWNER, 'projects delete pay');
    expect(deleting.text).toMatch(/^:hourglass: Slack asked JamJet to slow down \(`ratelimited`\) while running that command \(reference `[0-9a-f]{8}`\); try again in 7 s\./);
    t.slack.on('users.info', RATE_LIMITED);
    const inviting = await run(t, OWNER, 'members invite pay <@U0NEWCOMER>');
    expect(inviting.text).toContain('Slack asked JamJet to slow down');
    expect(inviting.text).not.toContain('our side');
  });
});

describe('a burst of DMs to the person who asked', () => {
  it('brings the keys of ten environments by DM at Slack’s pace, one refused call at most per DM, no reply needed', async () => {
    const from = t.slack.calls.length;
    await run(t, OWNER, 'projects create shop --envs a1,b2,c3,d4,e5,f6,g7,h8,i9,j10');
    const dms = () => t.slack.calls.slice(from).filter((c) => c.method === 'chat.postMessage' && c.body.channel === OWNER);
    await vi.waitFor(() => expect(dms().filter((c) => c.ok)).toHaveLength(10), { timeout: 15_000 });
    expect(dms().filter((c) => !c.ok).length).toBeLessThanOrEqual(10);
    expect(t.slack.calls.slice(from).filter((c) => c.method === 'response_url')).toEqual([]);
  }, 20_000);

  it('puts every Reveal button Slack would not DM into one reply, within the five a response_url takes', async () => {
    t.slack.on('chat.postMessage', () => ({ ok: false, error: 'messages_tab_disabled' }));
    const from = t.slack.calls.length;
    await run(t, OWNER, 'projects create shop --envs a1,b2,c3,d4,e5,f6,g7,h8,i9,j10');
    const replies = () => t.slack.calls.slice(from).filter((c) => c.method === 'response_url');
    await vi.waitFor(() => expect(replies()).toHaveLength(1), { timeout: 15_000 });
    expect(replies()[0]!.ok).toBe(true);
    const buttons = JSON.stringify(replies()[0]!.body.blocks).match(/"action_id":"key_reveal"/g) ?? [];
    expect(buttons).toHaveLength(10);
    expect(JSON.stringify(replies()[0]!.body.blocks)).toContain('I could not DM you (`messages_tab_disabled`)');
  }, 20_000);
});


describe('App Home while Slack rate-limits views.publish', () => {
  it('waits out a short Retry-After and publishes the tab once', async () => {
    let refused = 0;
    t.slack.on('views.publish', () => (refused++ === 0 ? [429, { ok: false, error: 'ratelimited' }, { 'retry-after': '1' }] : { ok: true, view: { id: 'V2' } }));
    const body = JSON.stringify({
      token: 'legacy',
      team_id: TEAM_ID,
      api_app_id: 'A0APP',
      type: 'event_callback',
      event_id: 'Ev0HOME429',
      event_time: Math.floor(Date.now() / 1000),
      event: { type: 'app_home_opened', user: OWNER, channel: `D${OWNER}`, tab: 'home', event_ts: '1700000000.000100' },
    });
    const from = t.slack.calls.length;
    const res = await fetch(`http://127.0.0.1:${t.port}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...sign(body) }, body });
    expect(res.status).toBe(200);
    const published = () => t.slack.calls.slice(from).filter((c) => c.method === 'views.publish');
    await vi.waitFor(() => expect(published().map((c) => c.ok)).toEqual([false, true]), { timeout: 5000 });
    expect(JSON.stringify(published()[1]!.body.view)).toContain('`pay`');
  });
});
