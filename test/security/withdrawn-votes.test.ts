/**
 * Approvals of people who lost the right to approve: a demotion below Member
 * or a removal withdraws their votes on the project's pending requests in the
 * same transaction (audited, cards refreshed), so a role given back never
 * revives a vote cast before it was taken, and a demotion racing with the same
 * person's press on another replica never leaves a counted vote behind.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { settingsAnnounced } from '../helpers/announcements.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { BOT_USER, buttonPayload, FakeSlack, interact, type SlackCall } from '../helpers/slack.ts';
import { reveal, run, waitForCall } from '../e2e/keys-flow.ts';
import { testContext, user } from '../helpers/db.ts';
import { findLiveProject } from '../../src/services/access.ts';
import { createApproval, decideApproval, findApproval, forgetFormerAdminVotes } from '../../src/services/approvals.ts';
import { authenticateKey } from '../../src/services/key-auth.ts';
import { issueKey } from '../../src/services/keys.ts';
import { addMember, changeRole } from '../../src/services/members.ts';
import { createProjects, setApprovalsRequired } from '../../src/services/projects.ts';

const OWNER = 'U0OWNER';
const ADMIN = 'U0ADMIN';
const MEMBER = 'U0MEMBER';
const MEMBER2 = 'U0MEMBERB';
const CHANNEL = 'C0APPROVALS';

let t: TestApp;
let key: string;
let clock: { now: number };

beforeEach(async () => {
  clock = { now: Date.now() };
  const slack = new FakeSlack({ now: () => clock.now });
  for (const id of [OWNER, ADMIN, MEMBER, MEMBER2]) slack.addUser({ id, email: `${id}@acme.test` });
  slack.addChannel({ id: CHANNEL, members: [BOT_USER, OWNER, ADMIN, MEMBER, MEMBER2] });
  t = await startTestApp({ slack, now: () => clock.now, env: { JOBS_POLL_SECONDS: '3600' } });
  await run(t, OWNER, 'projects create payments');
  key = await reveal(t, OWNER);
  await run(t, OWNER, `members invite payments <@${ADMIN}> admin`);
  await run(t, OWNER, `members invite payments <@${MEMBER}> member`);
  await run(t, OWNER, `members invite payments <@${MEMBER2}> member`);
  await run(t, OWNER, `projects channel payments <#${CHANNEL}|approvals>`);
});
afterEach(async () => {
  await t?.stop();
});

async function create(action: string): Promise<string> {
  // A settings change just made is announced in the channel first, at Slack's pace, on the test's frozen clock.
  await settingsAnnounced(t, clock);
  // Slack takes about one post a second per channel, paced by the app's clock: let that second pass.
  clock.now += 1100;
  const res = await fetch(`http://127.0.0.1:${t.port}/v1/approvals`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ action }),
  });
  expect(res.status).toBe(201);
  const id = ((await res.json()) as { id: string }).id;
  await waitForCall(t, 0, (c) => c.method === 'chat.postMessage' && c.body.channel === CHANNEL && JSON.stringify(c.body.blocks ?? []).includes(id));
  return id;
}

async function approvalsOf(id: string): Promise<{ status: string; approvals: { user: string }[] }> {
  const res = await fetch(`http://127.0.0.1:${t.port}/v1/approvals/${id}`, { headers: { authorization: `Bearer ${key}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as { status: string; approvals: { user: string }[] };
}

/** Presses Approve and returns what the presser is told. */
async function approveAs(user: string, id: string): Promise<string> {
  const from = t.slack.calls.length;
  expect((await interact(t.port, buttonPayload(user, 'approval_approve', id, CHANNEL))).status).toBe(200);
  const answer = await waitForCall(t, from, (c) => c.method === 'response_url');
  return String(answer.body.text ?? '');
}

const votesIn = async (id: string) =>
  ((await t.app.db.raw('SELECT user_id FROM approval_votes WHERE approval_id = ? ORDER BY position', [id])) as { user_id: string }[]).map((v) => v.user_id);
const withdrawals = async () =>
  ((await t.app.db.raw("SELECT actor, details FROM audit_events WHERE action = 'approval.votes_withdrawn' ORDER BY id")) as { actor: string; details: string }[]).map(
    (e) => ({ actor: e.actor, ...(JSON.parse(e.details) as { user: string; approvals: string[]; reason: string }) }),
  );
const editsOf = (id: string, from: number): SlackCall[] =>
  t.slack.calls.slice(from).filter((c) => c.method === 'chat.update' && c.ok === true && JSON.stringify(c.body.blocks).includes(id));

/** Runs the due jobs on every replica until the channel card of `id` was edited to contain `text`. */
async function cardShows(id: string, text: string, from: number): Promise<void> {
  await vi.waitFor(
    async () => {
      await t.runDue();
      expect(JSON.stringify(editsOf(id, from).filter((c) => c.body.channel === CHANNEL).at(-1)?.body.blocks)).toContain(text);
    },
    { timeout: 5000, interval: 50 },
  );
}

describe('a role that drops below Member withdraws the approvals', () => {
  it('demoted to Read-only and made Member again: the old approval is gone, the card said 0 of 2, and the next press by someone else does not approve', async () => {
    await run(t, OWNER, 'projects set payments approvals-required 2');
    const id = await create('open the firewall');
    const other = await create('close the firewall');
    expect(await approveAs(MEMBER, id)).toContain('Your approval is counted (1 of 2)');
    clock.now += 1000;
    expect(await approveAs(MEMBER, other)).toContain('Your approval is counted (1 of 2)');
    await cardShows(id, 'Approvals: 1 of 2', 0);

    const from = t.slack.calls.length;
    const demoted = (await run(t, OWNER, `members role payments <@${MEMBER}> read_only`)).text;
    expect(demoted).toContain('is now Read-only');
    expect(demoted).toContain('Their approval of 2 pending requests is withdrawn');
    expect(await votesIn(id)).toEqual([]);
    expect(await withdrawals()).toEqual([{ actor: OWNER, user: MEMBER, approvals: [id, other], reason: 'role changed to read_only' }]);
    // Both cards show the lower count.
    await cardShows(id, 'Approvals: 0 of 2', from);
    await cardShows(other, 'Approvals: 0 of 2', from);

    expect((await run(t, OWNER, `members role payments <@${MEMBER}> member`)).text).toContain('is now Member');
    expect((await approvalsOf(id)).approvals).toEqual([]);
    expect(await approveAs(MEMBER2, id)).toContain('Your approval is counted (1 of 2)');
    expect(await approvalsOf(id)).toMatchObject({ status: 'pending', approvals: [{ user: MEMBER2 }] });
    // Pressing again, they count once more, and only now does the request reach its quorum.
    expect(await approveAs(ADMIN, other)).toContain('Your approval is counted (1 of 2)');
    await interact(t.port, buttonPayload(MEMBER, 'approval_approve', id, CHANNEL));
    await vi.waitFor(async () => expect(await approvalsOf(id)).toMatchObject({ status: 'approved', approvals: [{ user: MEMBER2 }, { user: MEMBER }] }), { timeout: 5000, interval: 20 });
  });

  it('removed and invited again: likewise, the approval given before the removal never counts again', async () => {
    await run(t, OWNER, 'projects set payments approvals-required 2');
    const id = await create('restore the backup');
    await approveAs(MEMBER, id);
    const from = t.slack.calls.length;
    expect((await run(t, ADMIN, `members remove payments <@${MEMBER}>`)).text).toContain(`Their approval of request \`${id}\` is withdrawn`);
    expect(await withdrawals()).toEqual([{ actor: ADMIN, user: MEMBER, approvals: [id], reason: 'removed from the project' }]);
    await cardShows(id, 'Approvals: 0 of 2', from);
    await run(t, OWNER, `members invite payments <@${MEMBER}> member`);
    expect(await approveAs(MEMBER2, id)).toContain('Your approval is counted (1 of 2)');
    expect(await approvalsOf(id)).toMatchObject({ status: 'pending', approvals: [{ user: MEMBER2 }] });
  });

  it('a change that keeps Member or above withdraws nothing; decided requests keep the votes that decided them', async () => {
    await run(t, OWNER, 'projects set payments approvals-required 2');
    const pending = await create('scale up');
    const decided = await create('scale down');
    await approveAs(ADMIN, pending);
    await approveAs(ADMIN, decided);
    // The press that reaches the quorum is not answered: the card says it.
    await interact(t.port, buttonPayload(MEMBER, 'approval_approve', decided, CHANNEL));
    await vi.waitFor(async () => expect((await approvalsOf(decided)).status).toBe('approved'), { timeout: 5000, interval: 20 });
    const demoted = (await run(t, OWNER, `members role payments <@${ADMIN}> member`)).text;
    expect(demoted).not.toContain('withdrawn');
    expect(await votesIn(pending)).toEqual([ADMIN]);
    await run(t, OWNER, `members remove payments <@${MEMBER}>`);
    expect(await votesIn(decided)).toEqual([ADMIN, MEMBER]);
    expect(await withdrawals()).toEqual([]);
  });

  it('a request that lapsed keeps its votes, even before the expiry job has marked it', async () => {
    await run(t, OWNER, 'projects set payments approvals-required 2');
    await run(t, OWNER, 'projects set payments approval-timeout 10m');
    const lapsed = await create('rotate the signing key');
    await approveAs(MEMBER, lapsed);
    clock.now += 11 * 60_000;
    const demoted = (await run(t, OWNER, `members role payments <@${MEMBER}> read_only`)).text;
    expect(demoted).not.toContain('withdrawn');
    expect(await votesIn(lapsed)).toEqual([MEMBER]);
    expect(await withdrawals()).toEqual([]);
  });
});

describe('a demotion racing with a press by the same person (on two replicas on PostgreSQL)', () => {
  it('never leaves a counted vote by someone who is no longer a Member, whichever comes first', async () => {
    await run(t, OWNER, 'projects set payments approvals-required 3');
    for (let round = 0; round < 6; round++) {
      const id = await create(`deploy ${round}`);
      expect(await approveAs(OWNER, id)).toContain('Your approval is counted (1 of 3)');
      const from = t.slack.calls.length;
      // The balancer sends the two requests to different replicas on PostgreSQL. Every other round the press starts a
      // little later, so that both orders happen (measured: the press first in the even rounds, the demotion in the odd).
      const late = round % 2 === 1 ? round * 8 : 0;
      const [pressed, demoted] = await Promise.all([
        new Promise((r) => setTimeout(r, late)).then(() => interact(t.port, buttonPayload(MEMBER, 'approval_approve', id, CHANNEL))),
        run(t, OWNER, `members role payments <@${MEMBER}> read_only`),
      ]);
      expect(pressed.status).toBe(200);
      expect(demoted.text).toContain('is now Read-only');
      // The press is answered once decided: counted (then withdrawn by the demotion) or refused.
      const answer = String((await waitForCall(t, from, (c) => c.method === 'response_url')).body.text);
      expect(answer, `round ${round}`).toMatch(/Your approval is counted \(2 of 3\)|you are Read-only/);
      const withdrawn = (await withdrawals()).filter((e) => e.approvals.includes(id));
      expect(withdrawn, `round ${round}`).toHaveLength(answer.includes('counted') ? 1 : 0);
      expect(await votesIn(id)).toEqual([OWNER]);
      expect(await approvalsOf(id)).toMatchObject({ status: 'pending', approvals: [{ user: OWNER }] });
      // Given the role back, a press by someone else brings two of three, not the quorum.
      await run(t, OWNER, `members role payments <@${MEMBER}> member`);
      expect(await approveAs(MEMBER2, id)).toContain('Your approval is counted (2 of 3)');
      expect((await approvalsOf(id)).status).toBe('pending');
    }
  });

  it('a demotion racing with the press that would reach the quorum on its vote: the press counts only current Members', async () => {
    await run(t, OWNER, 'projects set payments approvals-required 2');
    for (let round = 0; round < 4; round++) {
      const id = await create(`migrate ${round}`);
      expect(await approveAs(MEMBER, id)).toContain('Your approval is counted (1 of 2)');
      const from = t.slack.calls.length;
      const [pressed] = await Promise.all([
        interact(t.port, buttonPayload(MEMBER2, 'approval_approve', id, CHANNEL)),
        run(t, OWNER, `members role payments <@${MEMBER}> read_only`),
      ]);
      expect(pressed.status).toBe(200);
      await vi.waitFor(
        async () => {
          const now = await approvalsOf(id);
          // Approved only if the press came first, with both votes; otherwise pending with MEMBER2's alone.
          if (now.status === 'approved') expect(now.approvals.map((v) => v.user)).toEqual([MEMBER, MEMBER2]);
          else {
            expect(now).toMatchObject({ status: 'pending', approvals: [{ user: MEMBER2 }] });
            expect(t.slack.calls.slice(from).some((c) => c.method === 'response_url' && String(c.body.text).includes('counted (1 of 2)'))).toBe(true);
          }
        },
        { timeout: 5000, interval: 20 },
      );
      const now = await approvalsOf(id);
      if (now.status === 'pending') expect(await votesIn(id)).toEqual([MEMBER2]);
      await run(t, OWNER, `members role payments <@${MEMBER}> member`);
    }
  });
});

describe('approvals cast as one of JAMJET_ADMIN_USERS', () => {
  it('stay while listed, whatever the project role; once off the list, kept by a Member, withdrawn from a Read-only, in one go at start-up', async () => {
    const ctx = await testContext();
    try {
      const moving = { ...ctx, now: () => ctx.clock.now++ };
      expect((await createProjects(moving, user(OWNER), 'payments', null)).ok).toBe(true);
      const issued = await issueKey(ctx.db, ctx.clock.now, (await findLiveProject(ctx.db, 'payments'))!, 'ci', OWNER);
      const identity = (await authenticateKey(ctx.db, issued.plaintext))!;
      for (const m of [ADMIN, MEMBER]) expect((await addMember(moving, user(OWNER), 'payments', m, 'member')).ok).toBe(true);
      expect((await setApprovalsRequired(moving, user(OWNER), 'payments', 3)).ok).toBe(true);
      const created = await createApproval(moving, identity, 'wire money', {});
      if (!created.ok) throw new Error(created.error.message);
      const id = created.value.id;
      // Both are also in JAMJET_ADMIN_USERS when they press.
      for (const m of [ADMIN, MEMBER]) expect((await decideApproval(moving, user(m, true), id, 'approved', null)).ok).toBe(true);
      const demoted = await changeRole(moving, user(OWNER), 'payments', MEMBER, 'read_only');
      expect(demoted.ok && demoted.value.withdrawn).toEqual([]);
      expect((await findApproval(ctx, id))!.approvals.map((v) => v.user)).toEqual([ADMIN, MEMBER]);

      const refreshes = async () => (await ctx.db.raw("SELECT id FROM jobs WHERE kind = 'approval.refresh' AND payload = ?", [JSON.stringify({ approval: id })])).length;
      const before = await refreshes();
      // Restarted with neither listed: ADMIN is still a Member (kept, now counted as one), MEMBER is Read-only (withdrawn).
      expect(await forgetFormerAdminVotes(ctx.db, [], ctx.jobs, moving.now())).toBe(2);
      expect((await findApproval(ctx, id))!.approvals.map((v) => v.user)).toEqual([ADMIN]);
      expect(await ctx.db.raw('SELECT user_id, as_admin FROM approval_votes WHERE approval_id = ?', [id])).toEqual([{ user_id: ADMIN, as_admin: 0 }]);
      const events = (await ctx.db.raw<{ actor: string; details: string }>("SELECT actor, details FROM audit_events WHERE action = 'approval.votes_withdrawn'")).map((e) => [e.actor, JSON.parse(e.details) as unknown]);
      expect(events).toEqual([['jamjet', { user: MEMBER, approvals: [id], reason: 'no longer in JAMJET_ADMIN_USERS' }]]);
      // Its cards are refreshed to show the lower count.
      expect(await refreshes()).toBe(before + 1);
      // Given Member back, the old approval does not return; a second start changes nothing.
      expect((await changeRole(moving, user(OWNER), 'payments', MEMBER, 'member')).ok).toBe(true);
      expect((await findApproval(ctx, id))!.approvals.map((v) => v.user)).toEqual([ADMIN]);
      expect(await forgetFormerAdminVotes(ctx.db, [], ctx.jobs, moving.now())).toBe(0);
    } finally {
      await ctx.db.close();
    }
  });
});
