/**
 * Kind 7, unchecked references: an id a person types is checked with the
 * system it names before the bot relies on it.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { BOT_USER, FakeSlack } from '../helpers/slack.ts';
import { reveal, run, waitForCall } from '../e2e/keys-flow.ts';

const OWNER = 'U0OWNER';
const MEMBER = 'U0MEMBER';
const STRANGER = 'U0STRANGER';

let t: TestApp;

beforeEach(async () => {
  const crowd = Array.from({ length: 450 }, (_, i) => `U0CROWD${i}`);
  const slack = new FakeSlack()
    .addUser({ id: OWNER, email: 'owner@acme.test' })
    .addUser({ id: MEMBER, email: 'member@acme.test' })
    .addChannel({ id: 'C0OPS', members: [BOT_USER, OWNER] })
    .addChannel({ id: 'C0OLD', members: [BOT_USER, OWNER], is_archived: true })
    .addChannel({ id: 'C0NOBOT', members: [OWNER] })
    .addChannel({ id: 'G0SECRET', members: [OWNER], is_private: true })
    .addChannel({ id: 'C0SHARED', members: [BOT_USER, OWNER], is_ext_shared: true })
    .addChannel({ id: 'C0FAR', members: [BOT_USER] })
    // A big channel: the Owner is on the third page of members.
    .addChannel({ id: 'C0BIG', members: [BOT_USER, ...crowd, OWNER] })
    .addChannel({ id: 'C0BIGNOT', members: [BOT_USER, ...crowd] });
  t = await startTestApp({ slack });
  await run(t, OWNER, 'projects create payments');
  await run(t, OWNER, `members invite payments <@${MEMBER}> member`);
});
afterEach(async () => {
  await t.stop();
});

const channelOf = async () => ((await t.app.db.raw('SELECT approvals_channel AS c FROM projects'))[0] as { c: string | null }).c;

describe('projects channel', () => {
  it.each([
    ['C0GONE', 'I cannot see <#C0GONE>: it does not exist, or it is private and I am not in it.'],
    ['G0SECRET', 'I cannot see <#G0SECRET>: it does not exist, or it is private and I am not in it.'],
    ['C0OLD', '<#C0OLD> is archived; pick a channel that is in use.'],
    ['C0NOBOT', 'I am not in <#C0NOBOT>; invite me there with `/invite @JamJet`, then run this again.'],
    ['C0SHARED', '<#C0SHARED> is shared with another organisation (Slack Connect)'],
    ['C0FAR', 'You are not in <#C0FAR>; join it first, or pick a channel you are in.'],
    ['C0BIGNOT', 'You are not in <#C0BIGNOT>'],
  ])('refuses %s with a sentence saying what to do, and changes nothing', async (id, sentence) => {
    const reply = await run(t, OWNER, `projects channel payments <#${id}|x>`);
    expect(reply.text).toContain(sentence);
    expect(reply.text).toContain('/jamjet projects channel <project> <#channel|off>');
    expect(await channelOf()).toBeNull();
    expect((await t.app.db.raw("SELECT count(*) AS n FROM audit_events WHERE action LIKE 'project.channel%'"))[0]).toEqual({ n: 0 });
  });

  it('accepts a channel the app and the person are both in, reading every page of a big channel’s members', async () => {
    const reply = await run(t, OWNER, 'projects channel payments <#C0BIG|big>');
    expect(reply.text).toContain('will be posted in <#C0BIG>');
    expect(await channelOf()).toBe('C0BIG');
    const pages = t.slack.callsTo('conversations.members').filter((c) => c.body.channel === 'C0BIG');
    expect(pages.length).toBe(3);
    expect(pages.every((p) => Number(p.body.limit) <= 1000)).toBe(true);
  });

  it('asks Slack nothing for someone without the role, so nothing about the channel leaks', async () => {
    const reply = await run(t, STRANGER, 'projects channel payments <#C0OPS|ops>');
    expect(reply.text).toContain('You have no access to project `payments`');
    expect(t.slack.callsTo('conversations.info')).toEqual([]);
  });

  it('an app installed without the channel scopes says how to fix it, and changes nothing', async () => {
    t.slack.on('conversations.info', () => ({ ok: false, error: 'missing_scope', needed: 'channels:read' }));
    const reply = await run(t, OWNER, 'projects channel payments <#C0OPS|ops>');
    expect(reply.text).toContain('(it needs the channels:read and groups:read scopes); reinstall it from manifest.yml');
    expect(await channelOf()).toBeNull();
  });

  it('a Slack failure while checking is reported and changes nothing', async () => {
    t.slack.on('conversations.info', () => ({ ok: false, error: 'internal_error' }));
    const reply = await run(t, OWNER, 'projects channel payments <#C0OPS|ops>');
    expect(reply.text).toContain('Slack could not tell me about <#C0OPS> (`internal_error`)');
    expect(await channelOf()).toBeNull();
  });
});

describe('an approvals channel checked again when a card goes', () => {
  it('a channel shared with another organisation after it was set gets no card; the Owners get it by DM, told why', async () => {
    const key = await reveal(t, OWNER);
    expect((await run(t, OWNER, 'projects channel payments <#C0OPS|ops>')).text).toContain('will be posted in <#C0OPS>');
    // Someone shares the channel with a partner organisation (Slack Connect).
    t.slack.addChannel({ id: 'C0OPS', members: [BOT_USER, OWNER, 'U0PARTNER'], is_ext_shared: true });
    const from = t.slack.calls.length;
    const res = await fetch(`http://127.0.0.1:${t.port}/v1/approvals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'pay invoice 42', context: { payee: 'acme' } }),
    });
    expect(res.status).toBe(201);
    const dm = await waitForCall(t, from, (c) => c.method === 'chat.postMessage' && c.body.channel === OWNER && String(c.body.text).includes('pay invoice 42'));
    expect(JSON.stringify(dm.body)).toContain('is now shared with another organisation');
    expect(t.slack.calls.slice(from).some((c) => c.method === 'chat.postMessage' && c.body.channel === 'C0OPS')).toBe(false);
  });

  it('nor are policy changes or blocked decisions announced there: the person who changed a rule is told why; the decisions stay listed', async () => {
    const key = await reveal(t, OWNER);
    await run(t, OWNER, 'projects channel payments <#C0OPS|ops>');
    t.slack.addChannel({ id: 'C0OPS', members: [BOT_USER, OWNER, 'U0PARTNER'], is_ext_shared: true });
    const from = t.slack.calls.length;
    expect((await run(t, MEMBER, 'policies add payments block payments.refund*')).text).toContain('payments.refund*');
    const dm = await waitForCall(t, from, (c) => c.method === 'chat.postMessage' && c.body.channel === MEMBER);
    expect(String(dm.body.text)).toContain('shared with another organisation');
    const pushed = await fetch(`http://127.0.0.1:${t.port}/v1/policy-audit/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        events: [{ ts: new Date().toISOString(), run_id: 'r1', adapter: 'ts-sdk', host: 'typescript', tool: 'payments.refund_order', decision: 'BLOCKED', executed: false, schema_version: 1 }],
        path: 'direct',
      }),
    });
    expect(pushed.status).toBe(202);
    // The announcement waits a few seconds for the rest of a burst: make it due now.
    await t.app.db.raw("UPDATE jobs SET run_at = 0 WHERE kind = 'policy_events.announce'", []);
    // Either replica may claim it (the other's poller can tick meanwhile): run both until it is done.
    await vi.waitFor(async () => {
      await t.runDue();
      expect(await t.app.db.raw("SELECT status FROM jobs WHERE kind = 'policy_events.announce'", [])).toEqual([{ status: 'done' }]);
    }, { timeout: 5000, interval: 20 });
    expect(t.slack.calls.slice(from).some((c) => c.method === 'chat.postMessage' && c.body.channel === 'C0OPS')).toBe(false);
    expect((await run(t, OWNER, 'events payments')).text).toContain('payments.refund_order');
  });

  it('an internal channel still gets the card, checked with one conversations.info', async () => {
    const key = await reveal(t, OWNER);
    await run(t, OWNER, 'projects channel payments <#C0OPS|ops>');
    const from = t.slack.calls.length;
    await fetch(`http://127.0.0.1:${t.port}/v1/approvals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'deploy' }),
    });
    await waitForCall(t, from, (c) => c.method === 'chat.postMessage' && c.body.channel === 'C0OPS');
    expect(t.slack.calls.slice(from).filter((c) => c.method === 'conversations.info')).toHaveLength(1);
  });
});
