/**
 * Attacks on the two-person rule, escalation and expiry notices: people
 * without the role (no role, Read-only, another project's Owner or key), one
 * person pressing many times from several places over both replicas, the
 * approvals channel changed before an escalation, an escalation reaching
 * someone who already approved, messages queued for someone who then loses
 * their role, a press at the very moment a request expires, and the upgrade
 * that introduced grouped expiry notices.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Migrator, type Migration } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDb } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { JobQueue } from '../../src/jobs/queue.ts';
import { createLogger } from '../../src/logger.ts';
import { settingsAnnounced } from '../helpers/announcements.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { testContext, user } from '../helpers/db.ts';
import { BOT_USER, buttonPayload, FakeSlack, interact } from '../helpers/slack.ts';
import { reveal, run, waitForCall } from '../e2e/keys-flow.ts';
import { createProjects, setApprovalsRequired } from '../../src/services/projects.ts';
import { addMember } from '../../src/services/members.ts';
import { authenticateKey } from '../../src/services/key-auth.ts';
import { issueKey } from '../../src/services/keys.ts';
import { findLiveProject } from '../../src/services/access.ts';
import { claimExpiryNotice, createApproval, decideApproval, findApproval } from '../../src/services/approvals.ts';

const OWNER = 'U0OWNER';
const ADMIN = 'U0ADMIN';
const OWNER2 = 'U0OWNERB';
const MEMBER = 'U0MEMBER';
const READER = 'U0READER';
const OUTSIDER = 'U0OUTSIDER';
const CHANNEL = 'C0APPROVALS';
const LATER = 'C0LATER';

let t: TestApp | undefined;
let key: string;
let clock: { now: number };

function fakeSlack(): FakeSlack {
  const slack = new FakeSlack({ now: () => clock.now });
  for (const id of [OWNER, ADMIN, OWNER2, MEMBER, READER, OUTSIDER]) slack.addUser({ id, email: `${id}@acme.test` });
  slack.addChannel({ id: CHANNEL, members: [BOT_USER, OWNER, ADMIN, OWNER2, MEMBER] });
  slack.addChannel({ id: LATER, members: [BOT_USER, OWNER, ADMIN, OWNER2, MEMBER] });
  return slack;
}

async function setUp(): Promise<TestApp> {
  const app = await startTestApp({ slack: fakeSlack(), now: () => clock.now, env: { JOBS_POLL_SECONDS: '3600' } });
  t = app;
  await run(app, OWNER, 'projects create payments');
  key = await reveal(app, OWNER);
  await run(app, OWNER, `members invite payments <@${ADMIN}> admin`);
  await run(app, OWNER, `members invite payments <@${OWNER2}> owner`);
  await run(app, OWNER, `members invite payments <@${MEMBER}> member`);
  await run(app, OWNER, `projects channel payments <#${CHANNEL}|approvals>`);
  return app;
}

async function create(app: TestApp, action: string): Promise<string> {
  await settingsAnnounced(app, clock);
  clock.now += 1100;
  const res = await fetch(`http://127.0.0.1:${app.port}/v1/approvals`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ action }),
  });
  expect(res.status).toBe(201);
  const id = ((await res.json()) as { id: string }).id;
  await waitForCall(app, 0, (c) => c.method === 'chat.postMessage' && c.body.channel === CHANNEL && JSON.stringify(c.body.blocks ?? []).includes(id));
  return id;
}

const delivered = (app: TestApp, to: string, from: number) =>
  app.slack.calls.slice(from).filter((c) => c.method === 'chat.postMessage' && c.body.channel === to && c.ok === true);

beforeEach(() => {
  clock = { now: Date.now() };
});
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

describe('authority over quorum', () => {
  it('no-role, Read-only and another project\'s people: no setting changed, no vote counted, no request of another project read', async () => {
    const app = await setUp();
    await run(app, OWNER, `members invite payments <@${READER}> read_only`);
    await run(app, OWNER, 'projects set payments approvals-required 2');
    const id = await create(app, 'wire money');

    // Settings: refused, and to someone without a role the same as for a project that does not exist.
    const settings = ['approvals-required 1', 'escalate-after 5m', 'escalate-after off'];
    for (const setting of settings) {
      const real = (await run(app, OUTSIDER, `projects set payments ${setting}`)).text;
      const none = (await run(app, OUTSIDER, `projects set nosuch ${setting}`)).text;
      expect(real).toContain('payments');
      expect(real.replaceAll('payments', 'X')).toBe(none.replaceAll('nosuch', 'X'));
      const read = (await run(app, READER, `projects set payments ${setting}`)).text;
      expect(read.length).toBeGreaterThan(0);
      expect(read).not.toContain(':white_check_mark:');
    }
    const project = (await app.app.db.raw('SELECT approvals_required, escalate_after_seconds FROM projects WHERE name = ?', ['payments']))[0];
    expect(project).toEqual({ approvals_required: 2, escalate_after_seconds: null });

    // Presses by someone with no role, a Read-only member and the Owner of another project count nothing.
    await run(app, OUTSIDER, 'projects create ledger');
    const otherKey = await reveal(app, OUTSIDER);
    for (const who of [OUTSIDER, READER]) {
      for (const channel of [CHANNEL, `D${who.slice(1)}`]) expect((await interact(app.port, buttonPayload(who, 'approval_approve', id, channel))).status).toBe(200);
    }
    expect(await app.app.db.raw('SELECT user_id FROM approval_votes WHERE approval_id = ?', [id])).toEqual([]);

    // Another project's key learns nothing of the request, not even that it exists.
    const get = async (k: string, what: string) => {
      const res = await fetch(`http://127.0.0.1:${app.port}/v1/approvals/${what}`, { headers: { authorization: `Bearer ${k}` } });
      return { status: res.status, body: await res.text() };
    };
    expect(await get(otherKey, id)).toEqual(await get(otherKey, `apr_${'0'.repeat(24)}`));
    expect((await get(otherKey, id)).status).toBe(404);
    expect(JSON.parse((await get(key, id)).body)).toMatchObject({ status: 'pending', approvals: [] });
  });
});

describe('one person, many presses', () => {
  it('presses from the channel and from a DM at once (over both replicas on PostgreSQL) count once; the SDK still sees pending', async () => {
    const app = await setUp();
    await run(app, OWNER, 'projects set payments approvals-required 2');
    const id = await create(app, 'scale down the cluster');
    const from = app.slack.calls.length;
    const presses = Array.from({ length: 8 }, (_, i) => interact(app.port, buttonPayload(ADMIN, 'approval_approve', id, i % 2 === 0 ? CHANNEL : `D${ADMIN.slice(1)}`)));
    expect((await Promise.all(presses)).every((r) => r.status === 200)).toBe(true);
    await waitForCall(app, from, () => app.slack.calls.slice(from).filter((c) => c.method === 'response_url').length >= 8);
    expect(await app.app.db.raw('SELECT user_id FROM approval_votes WHERE approval_id = ?', [id])).toEqual([{ user_id: ADMIN }]);
    const res = await fetch(`http://127.0.0.1:${app.port}/v1/approvals/${id}`, { headers: { authorization: `Bearer ${key}` } });
    expect(await res.json()).toMatchObject({ status: 'pending', approvals: [{ user: ADMIN }] });
    const texts = app.slack.calls.slice(from).filter((c) => c.method === 'response_url').map((c) => String(c.body.text));
    expect(texts.filter((x) => x.includes('Your approval is counted'))).toHaveLength(1);
    expect(texts.filter((x) => x.includes('You already approved'))).toHaveLength(7);
  });
});

describe('escalation after the approvals channel changed', () => {
  for (const change of [`<#${LATER}|later>`, 'off']) {
    it(`replies in the thread of the card where it was posted (channel changed to ${change.startsWith('<') ? 'another' : 'off'}), once, and leaves no job retrying`, async () => {
      const app = await setUp();
      await run(app, OWNER, 'projects set payments escalate-after 5m');
      const id = await create(app, 'restart the primary');
      await run(app, OWNER, `projects channel payments ${change}`);
      const from = app.slack.calls.length;
      clock.now += 5 * 60_000;
      for (let i = 0; i < 4; i++) {
        await app.runDue();
        clock.now += 61_000;
      }
      const posted = (await app.app.db.raw('SELECT ts FROM approval_cards WHERE approval_id = ? AND destination = ?', [id, CHANNEL]))[0] as { ts: string };
      const threads = app.slack.calls.slice(from).filter((c) => c.method === 'chat.postMessage' && c.body.thread_ts !== undefined);
      expect(threads.map((c) => c.body)).toMatchObject([{ channel: CHANNEL, thread_ts: posted.ts }]);
      expect(threads[0]!.ok).toBe(true);
      const left = await app.app.db.raw("SELECT kind FROM jobs WHERE kind LIKE 'approval.escalate%' AND status <> 'done'");
      expect(left).toEqual([]);
    });
  }
});

describe('escalation of a request someone already approved', () => {
  it('asks only the Admins and Owners who have not approved it: no DM nor mention for the one who did', async () => {
    const app = await setUp();
    await run(app, OWNER, 'projects set payments approvals-required 2');
    await run(app, OWNER, 'projects set payments escalate-after 5m');
    const id = await create(app, 'promote the replica');
    const answered = app.slack.calls.length;
    expect((await interact(app.port, buttonPayload(ADMIN, 'approval_approve', id, CHANNEL))).status).toBe(200);
    await waitForCall(app, answered, (c) => c.method === 'response_url');
    const from = app.slack.calls.length;
    clock.now += 5 * 60_000;
    for (let i = 0; i < 3; i++) {
      await app.runDue();
      clock.now += 2000;
    }
    const thread = app.slack.calls.slice(from).filter((c) => c.method === 'chat.postMessage' && c.body.thread_ts !== undefined);
    expect(thread).toHaveLength(1);
    expect(String(thread[0]!.body.text)).toContain(`<@${OWNER}>`);
    expect(String(thread[0]!.body.text)).not.toContain(`<@${ADMIN}>`);
    expect(delivered(app, OWNER, from)).toHaveLength(1);
    expect(delivered(app, OWNER2, from)).toHaveLength(1);
    expect(delivered(app, ADMIN, from)).toHaveLength(0);
  });
});

describe('messages queued for someone who then loses their role', () => {
  it('an escalation DM (with the decision buttons) is not sent to an Admin removed before Slack took it', async () => {
    const app = await setUp();
    await run(app, OWNER, 'projects set payments escalate-after 5m');
    const id = await create(app, 'rotate the root credentials');
    // Slack fails the Admin's DM once: the job is retried later.
    let fail = 1;
    let ts = 1_700_000_500;
    app.slack.on('chat.postMessage', (b) => {
      if (b.channel === ADMIN && fail-- > 0) return { ok: false, error: 'internal_error' };
      return { ok: true, channel: String(b.channel).replace(/^U/, 'D'), ts: `${ts++}.000100` };
    });
    const from = app.slack.calls.length;
    clock.now += 5 * 60_000;
    for (let i = 0; i < 2; i++) await app.runDue();
    expect(app.slack.calls.slice(from).filter((c) => c.body.channel === ADMIN)).toHaveLength(1);
    expect(delivered(app, ADMIN, from)).toHaveLength(0);

    // Meanwhile the Admin is removed from the project: the retry must not hand them the request.
    await run(app, OWNER, `members remove payments <@${ADMIN}>`);
    for (let i = 0; i < 3; i++) {
      clock.now += 61_000;
      await app.runDue();
    }
    expect(delivered(app, ADMIN, from).filter((c) => JSON.stringify(c.body.blocks ?? []).includes(id))).toHaveLength(0);
    expect(delivered(app, OWNER, from)).toHaveLength(1);
  });

  it('the grouped expiry notice is not sent to an Owner demoted before Slack took it', async () => {
    const app = await setUp();
    await run(app, OWNER, 'projects set payments approval-timeout 1m');
    const id = await create(app, 'drop the staging database');
    let fail = 1;
    let ts = 1_700_000_900;
    app.slack.on('chat.postMessage', (b) => {
      if (b.channel === OWNER2 && fail-- > 0) return { ok: false, error: 'internal_error' };
      return { ok: true, channel: String(b.channel).replace(/^U/, 'D'), ts: `${ts++}.000100` };
    });
    const from = app.slack.calls.length;
    clock.now += 2 * 60_000;
    await app.runDue();
    clock.now += 61_000;
    for (let i = 0; i < 2; i++) await app.runDue();
    expect(app.slack.calls.slice(from).filter((c) => c.method === 'chat.postMessage' && c.body.channel === OWNER2)).toHaveLength(1);
    expect(delivered(app, OWNER, from).filter((c) => String(c.body.text).includes(id))).toHaveLength(1);

    await run(app, OWNER, `members role payments <@${OWNER2}> read_only`);
    for (let i = 0; i < 3; i++) {
      clock.now += 61_000;
      await app.runDue();
    }
    expect(delivered(app, OWNER2, from).filter((c) => String(c.body.text ?? '').includes(id))).toHaveLength(0);
  });
});

describe('a press at the moment a request expires', () => {
  // The clock ticks one millisecond each time it is read, like a real one between two reads.
  async function ticking() {
    const ctx = await testContext();
    const moving = { ...ctx, now: () => ctx.clock.now++ };
    expect((await createProjects(moving, user(OWNER), 'payments', null)).ok).toBe(true);
    const issued = await issueKey(ctx.db, ctx.clock.now, (await findLiveProject(ctx.db, 'payments'))!, 'ci', OWNER);
    const identity = (await authenticateKey(ctx.db, issued.plaintext))!;
    for (const m of [ADMIN, MEMBER]) expect((await addMember(moving, user(OWNER), 'payments', m, 'member')).ok).toBe(true);
    return { ctx, moving, identity };
  }

  for (const [decision, quorum] of [['approved', 1], ['approved', 2], ['rejected', 1]] as const) {
    it(`${decision} (quorum ${quorum}) pressed as the request lapses is told it expired, not an error`, async () => {
      const { ctx, moving, identity } = await ticking();
      expect((await setApprovalsRequired(moving, user(OWNER), 'payments', quorum)).ok).toBe(true);
      const created = await createApproval(moving, identity, 'wire money', {});
      if (!created.ok) throw new Error(created.error.message);
      if (quorum === 2) expect((await decideApproval(moving, user(ADMIN), created.value.id, 'approved', null)).ok).toBe(true);
      // The press reads the request one millisecond before it expires and decides one millisecond later.
      ctx.clock.now = created.value.expiresAt - 1;
      const result = await decideApproval(moving, user(MEMBER), created.value.id, decision, null);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error.message).toContain('expired');
      expect((await findApproval(ctx, created.value.id))!.status).toBe('expired');
    });
  }
});

describe('upgrading to grouped expiry notices', () => {
  it('requests that expired before the upgrade are not told to the Owners at the first expiry after it', async () => {
    // The migrations are the same on both engines; the data step here uses SQLite's file-free database.
    const folder = fileURLToPath(new URL('../../migrations/', import.meta.url));
    const names = readdirSync(folder).filter((f) => /^\d{3}_.+\.ts$/.test(f)).sort().map((f) => f.replace(/\.ts$/, ''));
    const db = openDb(':memory:');
    try {
      const migrator = new Migrator({
        db: db.kysely,
        provider: { getMigrations: async () => Object.fromEntries(await Promise.all(names.map(async (n) => [n, (await import(`${folder}${n}.ts`)) as Migration] as const))) },
      });
      expect((await migrator.migrateTo('015_policy_events')).error).toBeUndefined();
      const day = 86_400_000;
      const at = Date.UTC(2026, 10, 1);
      db.sqlite.pragma('foreign_keys = OFF');
      db.sqlite.prepare("INSERT INTO projects (id, name, created_by, created_at) VALUES (1, 'payments', ?, ?)").run(OWNER, at);
      db.sqlite.prepare("INSERT INTO memberships (project_id, user_id, role, created_at, added_by) VALUES (1, ?, 'owner', ?, ?)").run(OWNER, at, OWNER);
      for (let i = 0; i < 3; i++) {
        const id = `apr_${String(i).padStart(24, '0')}`;
        db.sqlite
          .prepare("INSERT INTO approvals (id, project_id, key_id, action, context, status, decided_at, created_at, expires_at) VALUES (?, 1, 1, 'old', '{}', 'expired', ?, ?, ?)")
          .run(id, at + i * day + 3_600_000, at + i * day, at + i * day + 3_600_000);
        db.sqlite.prepare('INSERT INTO approval_cards (approval_id, destination, channel, ts) VALUES (?, ?, ?, ?)').run(id, CHANNEL, CHANNEL, `${1_700_000_000 + i}.000100`);
      }
      await migrateToLatest(db.kysely);
      const now = () => at + 30 * day;
      const ctx = { db, now, jobs: new JobQueue(db, now, createLogger('error', () => {})) };
      // One that expires after the upgrade is told, alone.
      db.sqlite
        .prepare("INSERT INTO approvals (id, project_id, key_id, action, context, status, decided_at, created_at, expires_at) VALUES ('apr_new', 1, 1, 'new', '{}', 'expired', ?, ?, ?)")
        .run(now(), now() - 3_600_000, now());
      db.sqlite.prepare("INSERT INTO approval_cards (approval_id, destination, channel, ts) VALUES ('apr_new', ?, ?, '1700000100.000100')").run(CHANNEL, CHANNEL);
      const notice = await claimExpiryNotice(ctx, 1, async () => {});
      expect(notice).toMatchObject({ total: 1, approvals: [{ id: 'apr_new' }], owners: [OWNER] });
      db.sqlite.pragma('foreign_keys = ON');
    } finally {
      await db.close();
    }
  });
});
