/**
 * Blocked decisions that stop reaching anyone: when Slack refuses the
 * announcement of an approvals channel's blocked and over-budget decisions
 * for good, or the channel was shared with another organisation, the
 * project's Owners are told by DM, once per project (not at every burst, not
 * by each replica) until the approvals channel is set again.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { BOT_USER, FakeSlack, type SlackCall } from '../helpers/slack.ts';
import { reveal, run } from '../e2e/keys-flow.ts';
import { tellOwnersOfRefusal } from '../../src/services/policy-events.ts';

const OWNER = 'U0OWNER';
const OWNER2 = 'U0OWNERB';
const MEMBER = 'U0MEMBER';
const CHANNEL = 'C0APPROVALS';
const OTHER_CHANNEL = 'C0OPS';

let t: TestApp;
let key: string;
let clock: { now: number };
let refusing: string | null;

/** The DMs Slack took for `user` saying blocked decisions are no longer announced. */
const toldTo = (user: string): SlackCall[] =>
  t.slack.calls.filter((c) => c.method === 'chat.postMessage' && c.ok === true && c.body.channel === user && String(c.body.text).includes('no longer announced'));
const announcements = (): SlackCall[] =>
  t.slack.calls.filter((c) => c.method === 'chat.postMessage' && c.ok === true && String(c.body.text).includes('blocked or over budget'));

/** One blocked decision pushed as an SDK does. */
async function pushBlocked(tool = 'deploy-prod') {
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

/** Moves past the burst window and the spacing between announcements, and runs due jobs on every replica at once, until none is left pending. */
async function burstAnnounced() {
  clock.now += 61_000;
  await vi.waitFor(async () => {
    await t.runDue();
    expect(await t.app.db.raw("SELECT id FROM jobs WHERE kind LIKE 'policy_events.%' AND status <> 'done'", [])).toEqual([]);
  }, { timeout: 5000, interval: 20 });
}

beforeEach(async () => {
  clock = { now: Date.now() };
  refusing = null;
  const slack = new FakeSlack({ now: () => clock.now });
  for (const id of [OWNER, OWNER2, MEMBER]) slack.addUser({ id, email: `${id}@acme.test` });
  slack.addChannel({ id: CHANNEL, members: [BOT_USER, OWNER, OWNER2, MEMBER] });
  slack.addChannel({ id: OTHER_CHANNEL, members: [BOT_USER, OWNER, OWNER2, MEMBER] });
  let ts = 0;
  slack.on('chat.postMessage', (b) =>
    refusing !== null && b.channel === CHANNEL ? { ok: false, error: refusing } : { ok: true, channel: String(b.channel).replace(/^U/, 'D'), ts: `1700000${ts++}.000100` },
  );
  t = await startTestApp({ slack, now: () => clock.now, env: { JOBS_POLL_SECONDS: '3600' } });
  await run(t, OWNER, 'projects create payments');
  key = await reveal(t, OWNER);
  await run(t, OWNER, `members invite payments <@${OWNER2}> owner`);
  await run(t, OWNER, `members invite payments <@${MEMBER}> member`);
  await run(t, OWNER, `projects channel payments <#${CHANNEL}|approvals>`);
});
afterEach(async () => {
  await t.stop();
});

describe('an announcement of blocked decisions Slack refuses for good', () => {
  it('tells each Owner once, by DM, saying which channel, why, where the decisions are and how to fix it; two more bursts and two replicas tell nobody again', async () => {
    refusing = 'not_in_channel';
    await pushBlocked();
    await burstAnnounced();
    for (const owner of [OWNER, OWNER2]) expect(toldTo(owner)).toHaveLength(1);
    expect(toldTo(MEMBER)).toEqual([]);
    const dm = String(toldTo(OWNER)[0]!.body.text);
    expect(dm).toContain('Blocked and over-budget decisions of `payments` are no longer announced in <#C0APPROVALS>');
    expect(dm).toContain('Slack refuses to post there (`not_in_channel`)');
    expect(dm).toContain('`/jamjet events payments`');
    expect(dm).toContain('/jamjet projects channel payments');
    for (const tool of ['db-drop', 'rm-rf']) {
      await pushBlocked(tool);
      await burstAnnounced();
    }
    // Each burst was offered to Slack and refused; the Owners heard once.
    expect(t.slack.calls.filter((c) => c.method === 'chat.postMessage' && c.body.channel === CHANNEL).length).toBeGreaterThanOrEqual(3);
    for (const owner of [OWNER, OWNER2]) expect(toldTo(owner)).toHaveLength(1);
    // The decisions are all still listed.
    const events = (await run(t, OWNER, 'events payments')).text;
    for (const tool of ['deploy-prod', 'db-drop', 'rm-rf']) expect(events).toContain(tool);
  });

  it('decides "once" in one guarded UPDATE: every replica claiming at the same moment queues one DM per Owner in all', async () => {
    const project = (await t.app.db.raw<{ id: number }>("SELECT id FROM projects WHERE name = 'payments'"))[0]!.id;
    const claims = await Promise.all(
      [...t.replicas, ...t.replicas].map((r) => tellOwnersOfRefusal(r.services, project, CHANNEL, 'is_archived')),
    );
    expect(claims.reduce((a, b) => a + b, 0)).toBe(2);
    expect(await t.app.db.raw("SELECT count(*) AS n FROM jobs WHERE kind = 'policy_events.refusal_dm'")).toEqual([{ n: 2 }]);
    // A channel that is no longer the project's is nobody's news.
    expect(await tellOwnersOfRefusal(t.app.services, project, OTHER_CHANNEL, 'is_archived')).toBe(0);
  });

  it('tells again after the approvals channel is set again and refuses again', async () => {
    refusing = 'is_archived';
    await pushBlocked();
    await burstAnnounced();
    expect(toldTo(OWNER)).toHaveLength(1);
    // An Owner sets the channel again; it is fine for a while...
    refusing = null;
    await run(t, OWNER, `projects channel payments <#${CHANNEL}|approvals>`);
    await pushBlocked('db-drop');
    await burstAnnounced();
    expect(announcements()).toHaveLength(1);
    expect(toldTo(OWNER)).toHaveLength(1);
    // ...until Slack refuses again: told again, once.
    refusing = 'channel_not_found';
    for (const tool of ['rm-rf', 'curl']) {
      await pushBlocked(tool);
      await burstAnnounced();
    }
    expect(toldTo(OWNER)).toHaveLength(2);
    expect(toldTo(OWNER2)).toHaveLength(2);
    expect(String(toldTo(OWNER)[1]!.body.text)).toContain('(`channel_not_found`)');
  });

  it('a channel shared with another organisation since it was set: not posted there, the Owners told why, once', async () => {
    t.slack.addChannel({ id: CHANNEL, members: [BOT_USER, OWNER, OWNER2, MEMBER, 'U0PARTNER'], is_ext_shared: true });
    for (const tool of ['deploy-prod', 'db-drop']) {
      await pushBlocked(tool);
      await burstAnnounced();
    }
    expect(t.slack.calls.some((c) => c.method === 'chat.postMessage' && c.body.channel === CHANNEL)).toBe(false);
    expect(toldTo(OWNER)).toHaveLength(1);
    expect(toldTo(OWNER2)).toHaveLength(1);
    expect(String(toldTo(OWNER)[0]!.body.text)).toContain('it is now shared with another organisation (Slack Connect)');
  });

  it('is not sent to an Owner demoted before Slack took it, nor once the channel was set again', async () => {
    const project = (await t.app.db.raw<{ id: number }>("SELECT id FROM projects WHERE name = 'payments'"))[0]!.id;
    expect(await tellOwnersOfRefusal(t.app.services, project, CHANNEL, 'is_archived')).toBe(2);
    await run(t, OWNER, `members role payments <@${OWNER2}> member`);
    await burstAnnounced();
    expect(toldTo(OWNER)).toHaveLength(1);
    expect(toldTo(OWNER2)).toEqual([]);
    expect(await tellOwnersOfRefusal(t.app.services, project, CHANNEL, 'is_archived')).toBe(0);
    await run(t, OWNER, `projects channel payments <#${OTHER_CHANNEL}|ops>`);
    expect(await tellOwnersOfRefusal(t.app.services, project, OTHER_CHANNEL, 'is_archived')).toBe(1);
    await run(t, OWNER, `projects channel payments <#${CHANNEL}|approvals>`);
    await burstAnnounced();
    // Queued for the channel before it was set again: stale, not sent.
    expect(toldTo(OWNER)).toHaveLength(1);
  });

  it('an Owner Slack will not DM (account deactivated) is logged, not retried; the other Owner is told', async () => {
    refusing = 'is_archived';
    const dmHandler = (b: Record<string, unknown>) =>
      b.channel === OWNER2 ? { ok: false, error: 'user_disabled' } : refusing !== null && b.channel === CHANNEL ? { ok: false, error: refusing } : { ok: true, channel: b.channel, ts: `${clock.now / 1000}` };
    t.slack.on('chat.postMessage', dmHandler);
    const from = t.slack.calls.length;
    await pushBlocked();
    await burstAnnounced();
    expect(toldTo(OWNER)).toHaveLength(1);
    const attempts = () => t.slack.calls.slice(from).filter((c) => c.method === 'chat.postMessage' && c.body.channel === OWNER2).length;
    expect(attempts()).toBe(1);
    await burstAnnounced();
    expect(attempts()).toBe(1);
    expect(t.logs.some((l) => l.includes('announcement refusal not told to an Owner'))).toBe(true);
  });
});
