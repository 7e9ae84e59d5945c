/**
 * Kind 1, stale capabilities: a button, ticket or scheduled job is checked
 * against the state when it is used, not when it was made.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SecretTarget } from '../../src/github/types.ts';
import { claimInvites, addPendingInvite, removeMember, addMember } from '../../src/services/members.ts';
import { createProjects, deleteProject } from '../../src/services/projects.ts';
import { FakeGitHub } from '../github/fake-github.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { testContext, user } from '../helpers/db.ts';
import { BOT_USER, buttonPayload, FakeSlack, interact, TEAM_ID } from '../helpers/slack.ts';
import { GITHUB_URL, KEY, press, readiness, reveal, run, serveCheck, waitForButton, waitForCall } from '../e2e/keys-flow.ts';

const OWNER = 'U0OWNER';
const ADMIN = 'U0ADMIN';
const MEMBER = 'U0MEMBER';
/** A JamJet admin (JAMJET_ADMIN_USERS): links targets without a GitHub connection. */
const ROOT = 'U0ROOT';
const CHANNEL = 'C0APPROVALS';
const REPO: SecretTarget = { kind: 'repo', owner: 'acme', repo: 'api', secretName: 'JAMJET_API_KEY' };
const HOUR = 3_600_000;

let t: TestApp;
let github: FakeGitHub;
let clock: { now: number };

beforeEach(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jamjet-stale-'));
  clock = { now: Date.UTC(2026, 10, 28, 9, 0, 0) };
  github = await new FakeGitHub(GITHUB_URL).init();
  const slack = new FakeSlack()
    .addUser({ id: OWNER, email: 'owner@acme.test' })
    .addUser({ id: ADMIN, email: 'admin@acme.test' })
    .addUser({ id: MEMBER, email: 'member@acme.test' })
    .addChannel({ id: CHANNEL, members: [BOT_USER, OWNER, ADMIN, MEMBER] });
  t = await startTestApp({
    slack,
    now: () => clock.now,
    env: {
      DATABASE_URL: `sqlite:${join(dir, 'jamjet.db')}`,
      GITHUB_TOKEN: 'ghp_testtokentesttokentesttokentest0001',
      GITHUB_API_URL: GITHUB_URL,
      JOBS_POLL_SECONDS: '3600',
      JAMJET_ADMIN_USERS: ROOT,
    },
  });
});
afterEach(async () => {
  await t.stop();
});

const writes = () => github.calls.filter((c) => c.step === 'write');
const keyIds = async () =>
  (await t.app.db.raw('SELECT public_id FROM api_keys ORDER BY id') as { public_id: string }[]).map((r) => r.public_id);

/** A project with a linked repository and a rotation whose GitHub write failed: a Retry button exists. */
async function failedRotation(): Promise<{ retry: string; newKey: string; newId: string }> {
  await run(t, OWNER, 'projects create payments');
  await reveal(t, OWNER);
  await run(t, OWNER, `members invite payments <@${ADMIN}> admin`);
  serveCheck(github, REPO);
  expect((await run(t, ROOT, 'github link payments acme/api')).text).toContain('as target 1');
  github.serve(REPO, { write: { status: 403, body: { message: 'nope' } } });
  await run(t, ADMIN, 'keys rotate payments');
  const newKey = await reveal(t, ADMIN);
  const report = await waitForButton(t, ADMIN, 'rotation_retry');
  return { retry: report.value, newKey, newId: (await keyIds())[1]! };
}

/** Presses Retry and returns what came back through response_url. */
async function pressRetry(value: string) {
  const from = await press(t, ADMIN, 'rotation_retry', value);
  const refusal = await waitForCall(t, from, (c) => c.method === 'response_url' && c.body.replace_original === false);
  const refreshed = t.slack.calls.slice(from).find((c) => c.method === 'response_url' && c.body.replace_original === true);
  return { refusal: String(refusal.body.text), refreshed };
}

describe('Retry on a GitHub target', () => {
  it('the example: after `keys rotate <new id> --revoke-now`, the old Retry writes nothing and the report no longer speaks of an overlap', async () => {
    const { retry, newKey, newId } = await failedRotation();
    const before = writes().length;
    github.serve(REPO);
    // The new key's DM is a follow-up, posted after the command's answer: look only at calls made since.
    const rotated = t.slack.calls.length;
    const leak = await run(t, ADMIN, `keys rotate payments ${newId} --revoke-now`);
    expect(leak.text).toContain('The old key is revoked as of now');
    const newest = await reveal(t, ADMIN, rotated);
    // The leak response's own write puts the newest key on GitHub.
    await waitForCall(t, 0, (c) => c.method === 'chat.postMessage' && String(c.body.text).includes('1 of 1 GitHub targets written'));
    expect(writes().length).toBe(before + 1);
    expect(github.open(String(writes().at(-1)!.body!.encrypted_value))).toBe(newest);
    expect((await readiness(t, 'payments', newKey)).status).toBe(401);

    const { refusal, refreshed } = await pressRetry(retry);
    expect(refusal).toContain(`The new key ${newId} of this rotation has been revoked since`);
    // Nothing more reached GitHub: the revoked key was not written back.
    expect(writes().length).toBe(before + 1);
    expect(github.open(String(writes().at(-1)!.body!.encrypted_value))).toBe(newest);
    const report = JSON.stringify(refreshed!.body);
    expect(report).toContain('was revoked');
    expect(report).not.toMatch(/stays valid|remind you/);
    expect(report).not.toContain('rotation_retry');
  });

  it('after `keys revoke` of the new key, Retry is refused and nothing is written', async () => {
    const { retry, newId } = await failedRotation();
    const before = writes().length;
    expect((await run(t, ADMIN, `keys revoke payments ${newId}`)).text).toContain('is revoked');
    github.serve(REPO);
    const { refusal } = await pressRetry(retry);
    expect(refusal).toContain('has been revoked since');
    expect(writes().length).toBe(before);
  });

  it('after a later rotation, the older Retry does not overwrite the newer key on GitHub', async () => {
    const { retry } = await failedRotation();
    // The first rotation ends with both keys kept; a second one rotates again.
    await t.app.db.raw("UPDATE rotations SET state = 'kept' WHERE state = 'overlap'");
    github.serve(REPO);
    await run(t, ADMIN, `keys rotate payments ${(await keyIds())[1]}`);
    await waitForCall(t, 0, (c) => c.method === 'chat.postMessage' && String(c.body.text).includes('1 of 1 GitHub targets written'));
    const before = writes().length;
    github.serve(REPO);
    const { refusal } = await pressRetry(retry);
    expect(refusal).toContain('A later rotation of `payments`');
    expect(writes().length).toBe(before);
  });
});

describe('reminder buttons and jobs', () => {
  async function rotating() {
    await run(t, OWNER, 'projects create payments');
    await reveal(t, OWNER);
    await run(t, OWNER, `members invite payments <@${ADMIN}> admin`);
    await run(t, ADMIN, 'keys rotate payments --overlap 1h');
    return await keyIds();
  }

  it('`keys revoke` of the old key finishes the rotation: no reminder comes, and Keep both no longer acts', async () => {
    const [oldId] = await rotating();
    await run(t, ADMIN, `keys revoke payments ${oldId}`);
    clock.now += HOUR + 1000;
    const before = t.slack.calls.length;
    await t.runDue();
    expect(t.slack.calls.slice(before).filter((c) => c.method === 'chat.postMessage' && c.body.channel === ADMIN)).toEqual([]);
    const rotation = ((await t.app.db.raw('SELECT id, state FROM rotations'))[0] as { id: number; state: string });
    expect(rotation.state).toBe('revoked');
    const from = await press(t, ADMIN, 'rotation_keep_both', String(rotation.id));
    const refusal = await waitForCall(t, from, (c) => c.method === 'response_url');
    expect(String(refusal.body.text)).toContain('This rotation is already finished');
  });

  it('`keys revoke` of the new key abandons the rotation: Revoke old key cannot leave the project without a key', async () => {
    const [oldId, newId] = await rotating();
    await run(t, ADMIN, `keys revoke payments ${newId}`);
    const rotation = (await t.app.db.raw('SELECT id FROM rotations'))[0] as { id: number };
    const from = await press(t, ADMIN, 'rotation_revoke_old', String(rotation.id));
    const refusal = await waitForCall(t, from, (c) => c.method === 'response_url');
    expect(String(refusal.body.text)).toContain('already finished');
    const old = (await t.app.db.raw('SELECT revoked_at FROM api_keys WHERE public_id = ?', [oldId]))[0] as { revoked_at: number | null };
    expect(old.revoked_at).toBeNull();
  });

  it('Reveal of a key revoked before it was revealed shows nothing', async () => {
    await rotating();
    const newId = (await keyIds())[1]!;
    await run(t, ADMIN, `keys revoke payments ${newId}`);
    const { value } = await waitForButton(t, ADMIN, 'key_reveal');
    const from = await press(t, ADMIN, 'key_reveal', value);
    const refusal = await waitForCall(t, from, (c) => c.method === 'response_url');
    expect(String(refusal.body.text)).toMatch(/revoked since; there is nothing to reveal/);
    expect(t.slack.calls.slice(from).some((c) => c.method === 'views.open')).toBe(false);
    expect(JSON.stringify(t.slack.calls.slice(from))).not.toMatch(KEY);
  });
});

describe('approval buttons and jobs', () => {
  async function requested() {
    await run(t, OWNER, 'projects create payments');
    const key = await reveal(t, OWNER);
    await run(t, OWNER, `projects channel payments <#${CHANNEL}|approvals>`);
    const res = await fetch(`http://127.0.0.1:${t.port}/v1/approvals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'wire 10,000 EUR' }),
    });
    const { id } = (await res.json()) as { id: string };
    return { key, id };
  }

  it('a request whose key was revoked expires with the key: Approve is refused and the card is refreshed', async () => {
    const { id } = await requested();
    await waitForCall(t, 0, (c) => c.method === 'chat.postMessage' && c.body.channel === CHANNEL);
    const keyId = (await keyIds())[0]!;
    await run(t, OWNER, `keys revoke payments ${keyId}`);
    const res = await interact(t.port, buttonPayload(OWNER, 'approval_approve', id, CHANNEL));
    expect(res.status).toBe(200);
    const refusal = await waitForCall(t, 0, (c) => c.method === 'response_url' && String(c.body.text).includes('expired'));
    expect(String(refusal.body.text)).toContain('This request has expired; nothing was decided.');
    expect(((await t.app.db.raw('SELECT status FROM approvals WHERE id = ?', [id]))[0] as { status: string }).status).toBe('expired');
    await t.runDue();
    await waitForCall(t, 0, (c) => c.method === 'chat.update' && JSON.stringify(c.body.blocks).includes('Expired'));
  });

  it('deleting the project expires its pending requests: the card loses its buttons and Approve is refused', async () => {
    const { id } = await requested();
    await waitForCall(t, 0, (c) => c.method === 'chat.postMessage' && c.body.channel === CHANNEL);
    const project = (await t.app.db.raw('SELECT id FROM projects'))[0] as { id: number };
    expect((await deleteProject(t.app.services, user(OWNER), 'payments', 'payments', project.id)).ok).toBe(true);
    await t.runDue();
    const update = await waitForCall(t, 0, (c) => c.method === 'chat.update');
    expect(JSON.stringify(update.body.blocks)).not.toContain('approval_approve');
    await interact(t.port, buttonPayload(OWNER, 'approval_approve', id, CHANNEL));
    const refusal = await waitForCall(t, 0, (c) => c.method === 'response_url' && String(c.body.text).includes(':warning:'));
    expect(String(refusal.body.text)).toContain('That project no longer exists');
    expect(((await t.app.db.raw('SELECT status FROM approvals WHERE id = ?', [id]))[0] as { status: string }).status).toBe('expired');
  });

  it('no card is posted for requests whose key was revoked before their post job ran', async () => {
    t.slack.on('chat.postMessage', (b) => (b.channel === CHANNEL ? [500, { ok: false, error: 'fatal_error' }] : { ok: true, channel: String(b.channel).replace(/^U/, 'D'), ts: '1700000998.000100' }));
    const { id } = await requested();
    await run(t, OWNER, `keys revoke payments ${(await keyIds())[0]}`);
    t.slack.on('chat.postMessage', (b) => ({ ok: true, channel: String(b.channel), ts: '1700000999.000100' }));
    clock.now += HOUR;
    const before = t.slack.calls.length;
    await t.runDue();
    expect(t.slack.calls.slice(before).filter((c) => c.method === 'chat.postMessage' && c.body.channel === CHANNEL)).toEqual([]);
    expect(((await t.app.db.raw('SELECT status FROM approvals WHERE id = ?', [id]))[0] as { status: string }).status).toBe('expired');
  });

  it('no card is posted for a project deleted before its post job ran', async () => {
    // Slack is down for the first post, so the job is still waiting when the project goes.
    t.slack.on('chat.postMessage', () => [500, { ok: false, error: 'fatal_error' }]);
    await requested();
    const typed = (await t.app.db.raw('SELECT id FROM projects'))[0] as { id: number };
    const ctx = t.app.services;
    expect((await deleteProject(ctx, user(OWNER), 'payments', 'payments', typed.id)).ok).toBe(true);
    t.slack.on('chat.postMessage', (b) => ({ ok: true, channel: String(b.channel), ts: '1700000999.000100' }));
    clock.now += HOUR;
    const before = t.slack.calls.length;
    await t.runDue();
    expect(t.slack.calls.slice(before).filter((c) => c.method === 'chat.postMessage')).toEqual([]);
  });
});

describe('the delete confirmation modal', () => {
  it('does not delete a project created again under the same name while the modal was open', async () => {
    await run(t, OWNER, 'projects create payments');
    const from = t.slack.calls.length;
    await run(t, OWNER, 'projects delete payments');
    const modal = await waitForCall(t, from, (c) => c.method === 'views.open');
    const view = modal.body.view as { callback_id: string; private_metadata: string };
    // Meanwhile: deleted and created again (another window, another person's hands).
    const ctx = t.app.services;
    const first = (await t.app.db.raw('SELECT id FROM projects'))[0] as { id: number };
    expect((await deleteProject(ctx, user(OWNER), 'payments', 'payments', first.id)).ok).toBe(true);
    expect((await createProjects(ctx, user(OWNER), 'payments', null)).ok).toBe(true);

    const submitted = await interact(t.port, {
      type: 'view_submission',
      team: { id: TEAM_ID },
      user: { id: OWNER },
      api_app_id: 'A0APP',
      view: { id: 'V1', callback_id: view.callback_id, private_metadata: view.private_metadata, state: { values: { confirm: { name: { type: 'plain_text_input', value: 'payments' } } } } },
    });
    expect(submitted.status).toBe(200);
    expect(JSON.stringify(submitted.json)).toContain('not the project this window was opened for');
    expect((await t.app.db.raw('SELECT count(*) AS n FROM projects WHERE deleted_at IS NULL'))[0]).toEqual({ n: 1 });
  });
});

describe('e-mail invitations', () => {
  it('lapse when the person who made them has been removed since', async () => {
    const ctx = await testContext();
    await createProjects(ctx, user('UOWNER'), 'payments', null);
    expect((await addMember(ctx, user('UOWNER'), 'payments', 'UADMIN', 'admin')).ok).toBe(true);
    expect((await addPendingInvite(ctx, user('UADMIN'), 'payments', 'friend@elsewhere.test', 'admin')).ok).toBe(true);
    expect((await removeMember(ctx, user('UOWNER'), 'payments', 'UADMIN')).ok).toBe(true);
    expect(await claimInvites(ctx, 'UFRIEND', 'friend@elsewhere.test')).toEqual([]);
    const row = (await ctx.db.raw("SELECT action FROM audit_events WHERE action = 'member.invite_lapsed'"))[0];
    expect(row).toEqual({ action: 'member.invite_lapsed' });
    expect((await ctx.db.raw("SELECT count(*) AS n FROM memberships WHERE user_id = 'UFRIEND'"))[0]).toEqual({ n: 0 });
  });

  it('to become Owner lapse when their Owner was demoted to Admin; a workspace admin’s invitation stands', async () => {
    const ctx = await testContext();
    await createProjects(ctx, user('UOWNER'), 'payments', null);
    await addMember(ctx, user('UOWNER'), 'payments', 'UOWNER2', 'owner');
    expect((await addPendingInvite(ctx, user('UOWNER2'), 'payments', 'boss@elsewhere.test', 'owner')).ok).toBe(true);
    expect((await addPendingInvite(ctx, user('UROOT', true), 'payments', 'ops@elsewhere.test', 'owner')).ok).toBe(true);
    await ctx.db.raw("UPDATE memberships SET role = 'admin' WHERE user_id = 'UOWNER2'");
    expect(await claimInvites(ctx, 'UBOSS', 'boss@elsewhere.test')).toEqual([]);
    expect(await claimInvites(ctx, 'UOPS', 'ops@elsewhere.test', (id) => id === 'UROOT')).toEqual([{ project: 'payments', role: 'owner' }]);
  });
});
