/**
 * `/jamjet projects set` announces the change in the approvals channel the
 * way policy changes are: a durable job queued with the change, paced per
 * channel, retried through Slack's 429s and outages, never posted to a
 * channel shared with another organisation; when it cannot go, the person
 * who made the change is told why by DM. The command's own reply is unchanged.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { BOT_USER, FakeSlack, type SlackCall } from '../helpers/slack.ts';
import { run } from './keys-flow.ts';

const OWNER = 'U0OWNER';
const MEMBER = 'U0MEMBER';
const CHANNEL = 'C0APPROVALS';
const JOB = 'projects.announce_setting';

let t: TestApp;
let clock: { now: number };

/** Posts Slack took in the approvals channel that announce a setting change. */
const announced = (): SlackCall[] =>
  t.slack.calls.filter((c) => c.method === 'chat.postMessage' && c.ok === true && c.body.channel === CHANNEL && String(c.body.text).includes('changed a setting'));
/** DMs Slack took for `user` telling them a change of theirs was not announced. */
const dmsTo = (user: string): SlackCall[] =>
  t.slack.calls.filter((c) => c.method === 'chat.postMessage' && c.ok === true && c.body.channel === user && String(c.body.text).includes('Your change'));
const jobStatuses = async () => (await t.app.db.raw<{ status: string }>('SELECT status FROM jobs WHERE kind = ? ORDER BY id', [JOB])).map((r) => r.status);

/** Moves the clock on by `ms` and runs due jobs on every replica at once (on PostgreSQL either may claim a job). */
async function settle(ms: number) {
  clock.now += ms;
  await t.runDue();
}

/** Slack's usual answer to a post, for handlers that refuse only some. */
const posted = (b: Record<string, unknown>) => ({ ok: true, channel: String(b.channel).replace(/^U/, 'D'), ts: `${Math.floor(clock.now / 1000)}.${String(Math.random()).slice(2, 8)}` });

async function setUp(burst?: number) {
  const slack = new FakeSlack({ now: () => clock.now, ...(burst ? { burst } : {}) });
  for (const id of [OWNER, MEMBER]) slack.addUser({ id, email: `${id}@acme.test` });
  slack.addChannel({ id: CHANNEL, members: [BOT_USER, OWNER, MEMBER] });
  t = await startTestApp({ slack, now: () => clock.now, env: { JOBS_POLL_SECONDS: '3600' } });
  await run(t, OWNER, 'projects create payments');
  await run(t, OWNER, `members invite payments <@${MEMBER}> member`);
  await run(t, OWNER, `projects channel payments <#${CHANNEL}|approvals>`);
}

beforeEach(() => {
  clock = { now: Date.now() };
});
afterEach(async () => {
  await t?.stop();
});

describe('a settings change in the approvals channel', () => {
  it('two changes in a row under Slack\'s limit of one post a second: both arrive, in order, none refused, none lost', async () => {
    // No burst allowance: a second post within the second would be refused with a 429.
    await setUp(1);
    const a = await run(t, MEMBER, 'projects set payments approval-timeout 2h');
    const b = await run(t, MEMBER, 'projects set payments approvals-required 2');
    // The command's own reply is as before.
    expect(a.text).toBe(':white_check_mark: Approval requests of `payments` now expire after 2h.');
    expect(b.text).toContain(':white_check_mark: Approval requests of `payments` created from now on need 2 different people (Member or above) to approve');
    // The first goes at once; the second waits for its turn a second later on the app's clock. (The clock moves
    // only once the first is out: moved while the first is on its way, both would reach Slack in the same second.)
    await vi.waitFor(() => expect(announced()).toHaveLength(1), { timeout: 5000, interval: 20 });
    await vi.waitFor(async () => {
      await settle(1_000);
      expect(announced()).toHaveLength(2);
    }, { timeout: 5000, interval: 20 });
    const [first, second] = announced().map((c) => String(c.body.text));
    expect(first).toContain(`<@${MEMBER}> changed a setting of \`payments\`: *approval-timeout* is now \`2h\`. Approval requests of \`payments\` now expire after 2h.`);
    expect(second).toContain(`<@${MEMBER}> changed a setting of \`payments\`: *approvals-required* is now \`2\``);
    // Paced by the app, not pushed until Slack refused.
    expect(t.slack.rateLimited.filter((r) => r.channel === CHANNEL)).toEqual([]);
    await vi.waitFor(async () => expect(await jobStatuses()).toEqual(['done', 'done']), { timeout: 5000, interval: 20 });
    // Audit as before: one event per change.
    const audits = await t.app.db.raw<{ action: string }>("SELECT action FROM audit_events WHERE action IN ('project.approval_timeout_set', 'project.approvals_required_set') ORDER BY id");
    expect(audits.map((r) => r.action)).toEqual(['project.approval_timeout_set', 'project.approvals_required_set']);
  });

  it('waits out Slack\'s 429 and then posts once', async () => {
    await setUp();
    let refused = 0;
    t.slack.on('chat.postMessage', (b) => {
      if (b.channel === CHANNEL && refused === 0) {
        refused++;
        return [429, { ok: false, error: 'ratelimited' }, { 'retry-after': '3' }];
      }
      return posted(b);
    });
    await run(t, OWNER, 'projects set payments escalate-after 15m');
    await vi.waitFor(() => expect(refused).toBe(1), { timeout: 5000, interval: 20 });
    await settle(1_000);
    expect(announced()).toHaveLength(0);
    await vi.waitFor(async () => {
      await settle(3_000);
      expect(announced()).toHaveLength(1);
    }, { timeout: 5000, interval: 20 });
    expect(String(announced()[0]!.body.text)).toContain('*escalate-after* is now `15m`');
    await settle(60_000);
    expect(announced()).toHaveLength(1);
    expect(dmsTo(OWNER)).toEqual([]);
  });

  it('is retried through a Slack outage, and posted once Slack is back; nobody is told of a failure', async () => {
    await setUp();
    let down = true;
    let attempts = 0;
    t.slack.on('chat.postMessage', (b) => {
      if (b.channel === CHANNEL && down) {
        attempts++;
        return [503, { ok: false, error: 'service_unavailable' }, {}];
      }
      return posted(b);
    });
    const reply = await run(t, OWNER, 'projects set payments escalate-after off');
    expect(reply.text).toBe(':white_check_mark: Approval requests of `payments` are no longer escalated.');
    await vi.waitFor(() => expect(attempts).toBeGreaterThan(0), { timeout: 5000, interval: 20 });
    await vi.waitFor(async () => expect(await jobStatuses()).toEqual(['pending']), { timeout: 5000, interval: 20 });
    // Still down at the first retry.
    await vi.waitFor(async () => {
      await settle(20_000);
      expect(attempts).toBeGreaterThan(1);
    }, { timeout: 5000, interval: 20 });
    down = false;
    await vi.waitFor(async () => {
      await settle(60_000);
      expect(announced()).toHaveLength(1);
    }, { timeout: 5000, interval: 20 });
    expect(String(announced()[0]!.body.text)).toContain('*escalate-after* is now `off`');
    expect(dmsTo(OWNER)).toEqual([]);
  });

  it('is not posted to a channel shared with another organisation since it was set: the person who acted is told why', async () => {
    await setUp();
    t.slack.addChannel({ id: CHANNEL, members: [BOT_USER, OWNER, MEMBER, 'U0PARTNER'], is_ext_shared: true });
    await run(t, MEMBER, 'projects set payments approvals-required 3');
    await vi.waitFor(() => expect(dmsTo(MEMBER)).toHaveLength(1), { timeout: 5000, interval: 20 });
    const dm = String(dmsTo(MEMBER)[0]!.body.text);
    expect(dm).toContain('Your change to approvals-required of `payments` was made, but not announced in <#C0APPROVALS>');
    expect(dm).toContain('shared with another organisation');
    expect(dm).toContain('/jamjet projects channel');
    expect(t.slack.calls.some((c) => c.method === 'chat.postMessage' && c.body.channel === CHANNEL)).toBe(false);
    await vi.waitFor(async () => expect(await jobStatuses()).toEqual(['done']), { timeout: 5000, interval: 20 });
  });

  it('refused for good (the channel archived): the person who acted is told Slack\'s reason by DM, and the job ends', async () => {
    await setUp();
    t.slack.expectRefusals = true;
    t.slack.on('chat.postMessage', (b) => (b.channel === CHANNEL ? { ok: false, error: 'is_archived' } : posted(b)));
    await run(t, MEMBER, 'projects set payments approval-timeout 3h');
    await vi.waitFor(() => expect(dmsTo(MEMBER)).toHaveLength(1), { timeout: 5000, interval: 20 });
    const dm = String(dmsTo(MEMBER)[0]!.body.text);
    expect(dm).toContain('Your change to approval-timeout of `payments` was made, but Slack refused to announce it in <#C0APPROVALS> (`is_archived`)');
    await vi.waitFor(async () => expect(await jobStatuses()).toEqual(['done']), { timeout: 5000, interval: 20 });
    await settle(120_000);
    expect(dmsTo(MEMBER)).toHaveLength(1);
  });

  it('queues nothing for a project without an approvals channel, and nothing for a refused change', async () => {
    await setUp();
    await run(t, OWNER, 'projects channel payments off');
    await run(t, OWNER, 'projects set payments approval-timeout 2h');
    expect((await run(t, OWNER, 'projects set payments approvals-required 9')).text).toContain('is not a number of approvals');
    await run(t, OWNER, `projects channel payments <#${CHANNEL}|approvals>`);
    expect((await run(t, OWNER, 'projects set payments escalate-after 3h')).text).toContain('escalate-after must be shorter');
    expect(await jobStatuses()).toEqual([]);
  });
});
