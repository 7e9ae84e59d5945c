import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SecretTarget } from '../../src/github/types.ts';
import { FakeGitHub } from '../github/fake-github.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { FakeSlack } from '../helpers/slack.ts';
import { GITHUB_URL, KEY, press, readiness, reveal, run, serveCheck, waitForButton, waitForCall } from './keys-flow.ts';

const OWNER = 'U0OWNER';
const ADMIN = 'U0ADMIN';
const MEMBER = 'U0MEMBER';
const READER = 'U0READER';
/** A JamJet admin (JAMJET_ADMIN_USERS): links targets without a GitHub connection. */
const ROOT = 'U0ROOT';
const REPO: SecretTarget = { kind: 'repo', owner: 'acme', repo: 'api', secretName: 'JAMJET_API_KEY' };
const HOUR = 3_600_000;

let t: TestApp;
let github: FakeGitHub;
let clock: { now: number };
let dir: string;

async function boot(dbFile = join(dir, 'jamjet.db')) {
  const slack = new FakeSlack()
    .addUser({ id: OWNER, email: 'owner@acme.test' })
    .addUser({ id: ADMIN, email: 'admin@acme.test' })
    .addUser({ id: MEMBER, email: 'member@acme.test' })
    .addUser({ id: READER, email: 'reader@acme.test' })
    .addUser({ id: ROOT, email: 'root@acme.test' });
  return startTestApp({
    slack,
    now: () => clock.now,
    env: {
      DATABASE_URL: `sqlite:${dbFile}`,
      GITHUB_TOKEN: 'ghp_testtokentesttokentesttokentest0001',
      GITHUB_API_URL: GITHUB_URL,
      JOBS_POLL_SECONDS: '3600',
      JAMJET_ADMIN_USERS: ROOT,
    },
  });
}

/** A project with its first key revealed by the Owner, three members, and a linked repository. */
async function setUp(): Promise<string> {
  await run(t, OWNER, 'projects create payments');
  const first = await reveal(t, OWNER);
  await run(t, OWNER, `members invite payments <@${ADMIN}> admin`);
  await run(t, OWNER, `members invite payments <@${MEMBER}> member`);
  await run(t, OWNER, `members invite payments <@${READER}> read_only`);
  serveCheck(github, REPO);
  expect((await run(t, ROOT, 'github link payments acme/api')).text).toContain('as target 1');
  return first;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jamjet-rotation-'));
  clock = { now: Date.UTC(2026, 10, 28, 9, 0, 0) };
  github = await new FakeGitHub(GITHUB_URL).init();
  t = await boot();
});
afterEach(async () => {
  await t.stop();
});

describe('keys rotate, end to end', () => {
  it('writes the revealed key to GitHub, keeps both keys through the overlap, and revokes the old one from the reminder', async () => {
    const oldKey = await setUp();
    expect((await readiness(t, 'payments', oldKey)).status).toBe(200);

    github.serve(REPO);
    const started = await run(t, ADMIN, 'keys rotate payments --overlap 1h');
    expect(started.text).toContain('Rotating `payments`');
    const newKey = await reveal(t, ADMIN);
    expect(newKey).not.toBe(oldKey);

    // GitHub got exactly the key the modal showed, sealed to its public key.
    await waitForCall(t, 0, (c) => c.method === 'chat.postMessage' && String(c.body.text).includes('1 of 1 GitHub targets written'));
    const put = github.calls.find((c) => c.step === 'write')!;
    expect(put.body!.key_id).toBe(github.keyId);
    expect(github.open(String(put.body!.encrypted_value))).toBe(newKey);
    expect(github.calls.map((c) => c.step)).toEqual(['public_key', 'write', 'read_back']);

    // The overlap: both keys work.
    expect((await readiness(t, 'payments', oldKey)).status).toBe(200);
    expect((await readiness(t, 'payments', newKey)).status).toBe(200);

    // The reminder comes when the overlap ends, and says when the old key was last used.
    clock.now += HOUR + 1000;
    const before = t.slack.calls.length;
    await t.runDue();
    const reminder = await waitForButton(t, ADMIN, 'rotation_revoke_old', before);
    expect(String(reminder.call.body.text)).toContain('last used');

    // Member and Read-only may not revoke; nothing changes.
    for (const user of [READER, MEMBER]) {
      const from = await press(t, user, 'rotation_revoke_old', reminder.value);
      const refusal = await waitForCall(t, from, (c) => c.method === 'response_url');
      expect(String(refusal.body.text)).toContain('You need to be Admin or above');
      expect((await t.app.db.raw('SELECT count(*) AS n FROM api_keys WHERE revoked_at IS NOT NULL'))[0]).toEqual({ n: 0 });
    }

    const from = await press(t, ADMIN, 'rotation_revoke_old', reminder.value);
    const done = await waitForCall(t, from, (c) => c.method === 'response_url');
    expect(String(JSON.stringify(done.body))).toContain('Old key revoked');
    const refused = await readiness(t, 'payments', oldKey);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await readiness(t, 'payments', newKey)).status).toBe(200);
  });

  it('asks for confirmation before revoking an old key used in the last 15 minutes', async () => {
    const oldKey = await setUp();
    github.serve(REPO);
    await run(t, ADMIN, 'keys rotate payments --overlap 0s');
    await reveal(t, ADMIN);
    expect((await readiness(t, 'payments', oldKey)).status).toBe(200);
    const before = t.slack.calls.length;
    await t.runDue();
    const reminder = await waitForButton(t, ADMIN, 'rotation_revoke_old', before);

    const from = await press(t, ADMIN, 'rotation_revoke_old', reminder.value);
    const modal = await waitForCall(t, from, (c) => c.method === 'views.open');
    const view = modal.body.view as { callback_id: string; private_metadata: string };
    expect(view.callback_id).toBe('rotation_revoke_confirm');
    expect((await readiness(t, 'payments', oldKey)).status).toBe(200);

    const { interact } = await import('../helpers/slack.ts');
    const submitted = await interact(t.port, {
      type: 'view_submission',
      team: { id: 'T0TEAM' },
      user: { id: ADMIN },
      api_app_id: 'A0APP',
      view: { id: 'V9', callback_id: view.callback_id, private_metadata: view.private_metadata, state: { values: {} } },
    });
    expect(submitted.status).toBe(200);
    expect((await readiness(t, 'payments', oldKey)).status).toBe(401);
  });

  it('refuses a second rotation while one is in its overlap, naming the first', async () => {
    await setUp();
    github.serve(REPO);
    await run(t, ADMIN, 'keys rotate payments');
    const keysBefore = (await t.app.db.raw('SELECT count(*) AS n FROM api_keys'))[0];
    const second = await run(t, OWNER, 'keys rotate payments');
    expect(second.text).toMatch(/`payments` is already rotating key_[0-9a-f]{8} \(started by <@U0ADMIN>\)/);
    expect((await t.app.db.raw('SELECT count(*) AS n FROM api_keys'))[0]).toEqual(keysBefore);
  });

  it('lets --revoke-now through while another rotation is in its overlap', async () => {
    const oldKey = await setUp();
    github.serve(REPO);
    await run(t, ADMIN, 'keys rotate payments --overlap 30d');
    const middle = await reveal(t, ADMIN);
    github.serve(REPO);
    const before = t.slack.calls.length;
    const leak = await run(t, OWNER, `keys rotate payments ${((await t.app.db.raw('SELECT public_id FROM api_keys WHERE id = 2'))[0] as { public_id: string }).public_id} --revoke-now`);
    expect(leak.text).toContain('The old key is revoked as of now');
    expect((await readiness(t, 'payments', middle)).status).toBe(401);
    expect((await readiness(t, 'payments', oldKey)).status).toBe(200);
    const newest = await reveal(t, OWNER, before);
    expect((await readiness(t, 'payments', newest)).status).toBe(200);
    expect(await t.app.db.raw('SELECT state FROM rotations ORDER BY id')).toEqual([{ state: 'kept' }, { state: 'revoked' }]);
  });

  it('revokes the old key at once with --revoke-now', async () => {
    const oldKey = await setUp();
    github.serve(REPO);
    await run(t, ADMIN, 'keys rotate payments --revoke-now');
    expect((await readiness(t, 'payments', oldKey)).status).toBe(401);
    const newKey = await reveal(t, ADMIN);
    expect((await readiness(t, 'payments', newKey)).status).toBe(200);
  });

  it('never writes the plaintext to the database, the logs or any Slack message', async () => {
    const oldKey = await setUp();
    github.serve(REPO);
    await run(t, ADMIN, 'keys rotate payments --overlap 1h');
    const newKey = await reveal(t, ADMIN);
    await waitForCall(t, 0, (c) => String(c.body.text ?? '').includes('GitHub targets written'));
    await readiness(t, 'payments', newKey);
    clock.now += HOUR + 1000;
    await t.runDue();
    const reminder = await waitForButton(t, ADMIN, 'rotation_revoke_old');
    const from = await press(t, ADMIN, 'rotation_revoke_old', reminder.value);
    await waitForCall(t, from, (c) => c.method === 'response_url');
    await t.stop();

    for (const key of [oldKey, newKey]) {
      for (const file of ['jamjet.db', 'jamjet.db-wal']) {
        const path = join(dir, file);
        if (existsSync(path)) expect(readFileSync(path).includes(Buffer.from(key))).toBe(false);
      }
      expect(t.logs.join('\n')).not.toContain(key);
      // Not even the button values that open the sealed key, at debug level.
      expect(t.logs.join('\n')).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[A-Za-z0-9_-]{43}/);
      const leaks = t.slack.calls.filter((c) => c.raw.includes(key));
      // The only place a key appears is the reveal modal itself.
      expect(leaks.map((c) => c.method)).toEqual(['views.open']);
      expect(JSON.stringify(leaks[0]!.body.view)).toContain('Your new API key');
    }
    expect(t.logs.length).toBeGreaterThan(10);
    t = await boot(join(dir, 'other.db'));
  });
});

describe('the one-time reveal', () => {
  it('refuses anyone else, a second press and a press after 15 minutes', async () => {
    await setUp();
    // Look only after the command: under load the new DM may come after the first key's.
    const created = t.slack.calls.length;
    await run(t, OWNER, 'keys create payments --name ci');
    const { value } = await waitForButton(t, OWNER, 'key_reveal', created);

    let from = await press(t, ADMIN, 'key_reveal', value);
    let refusal = await waitForCall(t, from, (c) => c.method === 'response_url');
    expect(String(refusal.body.text)).toContain(`Only <@${OWNER}> can reveal this key`);
    expect(t.slack.calls.slice(from).some((c) => c.method === 'views.open')).toBe(false);

    from = await press(t, OWNER, 'key_reveal', value);
    const open = await waitForCall(t, from, (c) => c.method === 'views.open');
    expect(JSON.stringify(open.body.view)).toMatch(KEY);
    await waitForCall(t, from, (c) => c.method === 'response_url' && c.body.replace_original === true);

    from = await press(t, OWNER, 'key_reveal', value);
    refusal = await waitForCall(t, from, (c) => c.method === 'response_url' && c.body.replace_original === false);
    expect(String(refusal.body.text)).toContain('already revealed');
    expect(t.slack.calls.slice(from).some((c) => c.method === 'views.open')).toBe(false);

    // A fresh key left alone for 15 minutes expires, and its DM says so.
    const before = t.slack.calls.length;
    await run(t, OWNER, 'keys create payments --name late');
    const late = await waitForButton(t, OWNER, 'key_reveal', before);
    clock.now += 15 * 60_000 + 1;
    from = await press(t, OWNER, 'key_reveal', late.value);
    refusal = await waitForCall(t, from, (c) => c.method === 'response_url');
    expect(String(refusal.body.text)).toContain('expired');
    await t.runDue();
    const update = await waitForCall(t, from, (c) => c.method === 'chat.update');
    expect(String(update.body.text)).toContain('expired unrevealed');
  });
});

describe('GitHub failures', () => {
  it.each([
    [403, /Secrets/],
    [404, /acme\/api/],
    [422, /./],
    [500, /./],
  ])('GitHub answering %i: a clear reason, the old key still valid, and Retry works once GitHub recovers', async (status, reason) => {
    const oldKey = await setUp();
    // A 500 is retried once at once, so it has to fail twice.
    for (let i = 0; i < (status === 500 ? 2 : 1); i++) github.serve(REPO, { write: { status, body: { message: 'nope' } } });
    await run(t, ADMIN, 'keys rotate payments');
    const newKey = await reveal(t, ADMIN);
    const report = await waitForButton(t, ADMIN, 'rotation_retry');
    expect(String(report.call.body.text)).toContain('0 of 1 GitHub targets written');
    expect(JSON.stringify(report.call.body.blocks)).toMatch(reason);
    expect((await readiness(t, 'payments', oldKey)).status).toBe(200);

    github.serve(REPO);
    const from = await press(t, ADMIN, 'rotation_retry', report.value);
    const updated = await waitForCall(t, from, (c) => c.method === 'response_url' && c.body.replace_original === true);
    expect(String(updated.body.text)).toContain('1 of 1 GitHub targets written');
    const put = github.calls.filter((c) => c.step === 'write').at(-1)!;
    expect(github.open(String(put.body!.encrypted_value))).toBe(newKey);
  });
});

describe('the reminder', () => {
  it('goes to the Owner when the person who rotated may no longer finish it', async () => {
    await setUp();
    github.serve(REPO);
    await run(t, ADMIN, 'keys rotate payments --overlap 1h');
    await run(t, OWNER, `members remove payments <@${ADMIN}>`);
    clock.now += HOUR + 1000;
    const before = t.slack.calls.length;
    await t.runDue();
    const reminder = await waitForButton(t, OWNER, 'rotation_revoke_old', before);
    expect(reminder.call.body.channel).toBe(OWNER);
    expect(t.slack.calls.slice(before).some((c) => c.method === 'chat.postMessage' && c.body.channel === ADMIN)).toBe(false);
  });
});

describe('a rotation interrupted by a restart', () => {
  it('finishes the GitHub writes the next time the key is revealed, and warns on the reminder until then', async () => {
    await setUp();
    github.serve(REPO, { write: { status: 403, body: { message: 'nope' } } });
    await run(t, ADMIN, 'keys rotate payments --overlap 0s');
    await waitForButton(t, ADMIN, 'rotation_retry');
    // What a crash in the middle of the write leaves behind: the target still pending.
    await t.app.db.raw("UPDATE rotation_targets SET status = 'pending', updated_at = ?", [clock.now - 2 * 60_000]);

    const before = t.slack.calls.length;
    await t.runDue();
    const reminder = await waitForButton(t, ADMIN, 'rotation_revoke_old', before);
    expect(JSON.stringify(reminder.call.body.blocks)).toContain('The new key is not on GitHub yet');

    github.serve(REPO);
    const from = t.slack.calls.length;
    const newKey = await reveal(t, ADMIN);
    const report = await waitForCall(t, from, (c) => c.method === 'chat.postMessage' && String(c.body.text).includes('1 of 1 GitHub targets written'));
    expect(report.body.channel).toBe(ADMIN);
    const put = github.calls.filter((c) => c.step === 'write').at(-1)!;
    expect(github.open(String(put.body!.encrypted_value))).toBe(newKey);
  });
});

describe('durable reminders', () => {
  it('survive a restart: sent once by the next process when it starts past the due time', async () => {
    await setUp();
    github.serve(REPO);
    await run(t, ADMIN, 'keys rotate payments --overlap 1h');
    await reveal(t, ADMIN);
    await t.stop();

    clock.now += 2 * HOUR;
    t = await boot();
    const reminders = () => t.slack.calls.filter((c) => c.method === 'chat.postMessage' && String(c.body.text).includes('overlap of the `payments` rotation is over'));
    await waitForButton(t, ADMIN, 'rotation_revoke_old');
    expect(reminders()).toHaveLength(1);
    await t.runDue();
    clock.now += HOUR;
    await t.runDue();
    expect(reminders()).toHaveLength(1);
  });
});
