/**
 * Attacks on GitHub linking beyond the issue's own examples: environment
 * names GitHub would read as another environment or another path, a JamJet
 * admin who is no longer one, and a linker whose role went away by a path
 * other than `members remove` or `members role`.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalGitHub } from '../drills/local-github.ts';
import { press, reveal, run, waitForButton, waitForCall } from './keys-flow.ts';
import { connect, rotateAndReport, startConnect, startWorld, tick, waitForDm, type GitHubWorld } from './github-flow.ts';

const ALICE = 'U0ALICE';
const EVE = 'U0EVE';
const ROOT = 'U0ROOT';

let w: GitHubWorld;

function acme(github: LocalGitHub): void {
  for (const repo of ['acme/app', 'acme/shared', 'acme/payments']) github.repos.add(repo);
  for (const repo of ['acme/app', 'acme/shared']) github.grant(repo, 'alice', 'admin').grant(repo, 'eve', 'admin');
  github.grant('acme/payments', 'alice', 'admin');
  github.addEnvironment('acme/shared', 'production').addEnvironment('acme/app', 'production');
  github.member('acme', 'alice', 'admin').member('acme', 'jamjet-bot', 'admin');
}

const targetsCount = async () => ((await w.t.app.db.raw('SELECT count(*) AS n FROM github_targets WHERE removed_at IS NULL'))[0] as { n: number }).n;

const rotate = async (user: string, project: string) => (await rotateAndReport(w.t, user, project)).report;

describe('environment names', () => {
  beforeEach(async () => {
    const github = await new LocalGitHub().listen();
    acme(github);
    w = await startWorld({ users: [ALICE, EVE, ROOT], adminUsers: [ROOT], github });
    await connect(w, ALICE, 'alice');
    await connect(w, EVE, 'eve');
    await run(w.t, ALICE, 'projects create alpha');
  });
  afterEach(async () => {
    await w.t.stop();
    await w.github.close();
  });

  it.each([
    ['a path that walks out of the environment', '"../../../payments/actions"'],
    ['a path with an encoded slash', '..%2F..%2F..%2Fpayments%2Factions'],
    ['a trailing space', '"production "'],
    ['a leading space', '" production"'],
  ])('%s is refused before GitHub is asked', async (_case, env) => {
    const before = w.github.calls.length;
    const reply = await run(w.t, ALICE, `github link alpha acme/app --env ${env}`);
    expect(reply.text).toMatch(/environment/);
    expect(reply.text).toContain('Usage');
    expect(reply.text).toContain('without spaces at either end');
    expect(w.github.calls.slice(before)).toEqual([]);
    expect(await targetsCount()).toBe(0);
  });

  it.each([
    ['full-width letters', 'ｐｒｏｄｕｃｔｉｏｎ'],
    ['accents, composed and decomposed', 'prodúction'],
    ['a combining accent', 'productio\u0301n'],
    ['a soft hyphen and a word joiner', 'pro\u00adduc\u2060tion'],
    ['a Hangul filler', 'produc\u115ftion'],
  ])('%s that GitHub may read as the same environment collide with it', async (_case, env) => {
    expect((await run(w.t, ALICE, 'github link alpha acme/shared --env production')).text).toContain('is linked');
    await run(w.t, EVE, 'projects create side');
    // The local GitHub keeps them apart; GitHub's own comparison may not.
    w.github.addEnvironment('acme/shared', env);
    const reply = await run(w.t, EVE, `github link side acme/shared --env ${env} --secret JAMJET_API_KEY`);
    expect(reply.text).toContain('already holds the key');
    expect(await targetsCount()).toBe(1);
  });
});

describe('authority that lapsed while the bot was stopped', () => {
  let dir: string;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jamjet-red-'));
    const github = await new LocalGitHub().listen();
    acme(github);
    w = await startWorld({ users: [ALICE, EVE, ROOT], adminUsers: [ROOT], github, databaseFile: join(dir, 'db.sqlite') });
    await connect(w, ALICE, 'alice');
    await run(w.t, ALICE, 'projects create alpha');
    await reveal(w.t, ALICE);
  });
  afterEach(async () => {
    await w.t.stop();
    await w.github.close();
  });

  it('a target linked by a JAMJET_ADMIN_USERS member who is no longer one and has no role is paused, not written', async () => {
    expect((await run(w.t, ROOT, 'github link alpha acme/payments')).text).toContain('is linked');
    expect((await run(w.t, ALICE, 'github link alpha acme/app')).text).toContain('is linked');
    // The operator takes ROOT out of JAMJET_ADMIN_USERS and restarts.
    await w.t.stop();
    w = await startWorld({ users: [ALICE, EVE, ROOT], adminUsers: [], github: w.github, databaseFile: join(dir, 'db.sqlite') });
    const report = await rotate(ALICE, 'alpha');
    expect(report).toContain('acme/payments (repository secret JAMJET_API_KEY): paused, not written');
    expect(w.github.writes().filter((c) => c.path.includes('/repos/acme/payments/'))).toEqual([]);
    expect(w.github.writes().filter((c) => c.path.includes('/repos/acme/app/'))).toHaveLength(1);
    expect((await run(w.t, ALICE, 'github list alpha')).text).toMatch(/acme\/payments .*paused/);
  });

  it('a target linked before links needed GitHub’s word (an upgrade) is paused at start', async () => {
    expect((await run(w.t, ALICE, 'github link alpha acme/app')).text).toContain('is linked');
    // A row from before the upgrade: linked by the project Owner, its audit event without GitHub's word.
    await run(w.t, EVE, 'projects create side');
    const side = (await w.t.app.db.raw("SELECT id FROM projects WHERE name = 'side'"))[0] as { id: number };
    await w.t.app.db.raw("INSERT INTO github_targets (project_id, kind, owner, repo, secret_name, created_by, created_at) VALUES (?, 'repo', 'acme', 'payments', 'JAMJET_API_KEY', ?, 0)", [side.id, EVE]);
    await w.t.stop();
    w = await startWorld({ users: [ALICE, EVE, ROOT], adminUsers: [ROOT], github: w.github, databaseFile: join(dir, 'db.sqlite') });
    const report = await rotate(EVE, 'side');
    expect(report).toContain('acme/payments (repository secret JAMJET_API_KEY): paused, not written. <@U0EVE> linked it before links needed GitHub');
    expect(report).toContain('(no GitHub targets written)');
    expect(report).not.toContain('No GitHub targets are linked');
    expect(w.github.writes().filter((c) => c.path.includes('/repos/acme/payments/'))).toEqual([]);
    // alpha's own link, made with GitHub's word, is written as before.
    expect(await rotate(ALICE, 'alpha')).toContain('1 of 1 GitHub targets written');
  });

  it('a JAMJET_ADMIN_USERS member who is also the project Admin keeps the target written', async () => {
    await run(w.t, ALICE, `members invite alpha <@${ROOT}> admin`);
    expect((await run(w.t, ROOT, 'github link alpha acme/payments')).text).toContain('is linked');
    await w.t.stop();
    w = await startWorld({ users: [ALICE, EVE, ROOT], adminUsers: [], github: w.github, databaseFile: join(dir, 'db.sqlite') });
    const report = await rotate(ALICE, 'alpha');
    expect(report).toContain('1 of 1 GitHub targets written');
  });
});

describe('organisation secrets whose selected repositories GitHub pages oddly', () => {
  beforeEach(async () => {
    const github = await new LocalGitHub().listen();
    acme(github);
    w = await startWorld({ users: [ALICE, EVE, ROOT], adminUsers: [ROOT], github });
    await connect(w, ALICE, 'alice');
    await run(w.t, ALICE, 'projects create alpha');
    await reveal(w.t, ALICE);
  });
  afterEach(async () => {
    await w.t.stop();
    await w.github.close();
  });

  it('keeps every selected repository when pages hold fewer than asked for', async () => {
    const selected = Array.from({ length: 75 }, (_, i) => 7000 + i);
    w.github.putByHand('org:acme/JAMJET_API_KEY', '2025-06-01T10:00:00Z', { visibility: 'selected', selectedRepositoryIds: selected });
    w.github.maxPerPage = 30;
    expect((await run(w.t, ALICE, 'github link alpha --org acme --replace-existing')).text).toContain('is linked');
    const report = await rotate(ALICE, 'alpha');
    expect(report).toContain('1 of 1 GitHub targets written');
    const held = w.github.secrets.get('org:acme/JAMJET_API_KEY')!;
    expect(held.visibility).toBe('selected');
    expect(held.selectedRepositoryIds).toEqual(selected);
  });
});

describe('GitHub echoing the user token in its answers', () => {
  let dir: string;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jamjet-red-'));
    const github = await new LocalGitHub().listen();
    acme(github);
    w = await startWorld({ users: [ALICE, EVE, ROOT], github, databaseFile: join(dir, 'db.sqlite') });
  });
  afterEach(async () => {
    await w.t.stop();
    await w.github.close();
  });

  const echo = (call: { path: string; authorization: string | null }, paths: RegExp) =>
    call.authorization && paths.test(call.path)
      ? { status: 422, json: { message: `Bad request for ${call.authorization.replace(/^Bearer /, '')}`, errors: [{ message: call.authorization }] } }
      : undefined;

  it('never carries it into a DM, a job, the database or a log', async () => {
    await run(w.t, ALICE, 'projects create alpha');
    // The device flow ends with a token, then /user answers with the token in its message.
    w.github.override = (call) => echo(call, /^\/user$/);
    const from = w.t.slack.calls.length;
    const code = await startConnect(w, ALICE);
    w.github.decide(code, 'approved', 'alice');
    await tick(w, 5_000);
    await waitForDm(w.t, ALICE, /GitHub/, from + 1);
    // Then a connection that works, and a link whose permission read echoes it.
    w.github.override = null;
    await connect(w, ALICE, 'alice');
    w.github.override = (call) => echo(call, /^\/repos\/acme\/app$/);
    const reply = await run(w.t, ALICE, 'github link alpha acme/app');
    expect(reply.text).toContain('HTTP 422');
    await w.t.stop();
    const tokens = [...w.github.tokens.entries()].filter(([, a]) => a.login === 'alice').map(([token]) => token);
    expect(tokens).toHaveLength(2);
    const { readFileSync, existsSync } = await import('node:fs');
    for (const token of tokens) {
      expect(w.t.slack.calls.filter((c) => c.raw.includes(token))).toEqual([]);
      expect(w.t.logs.join('\n')).not.toContain(token);
      for (const file of ['db.sqlite', 'db.sqlite-wal']) {
        const path = join(dir, file);
        if (existsSync(path)) expect(readFileSync(path).includes(Buffer.from(token))).toBe(false);
      }
    }
  });
});

describe("someone else's GitHub account", () => {
  beforeEach(async () => {
    const github = await new LocalGitHub().listen();
    acme(github);
    w = await startWorld({ users: [ALICE, EVE], github });
  });
  afterEach(async () => {
    await w.t.stop();
    await w.github.close();
  });

  it('a second connect says the first code no longer connects anything; only the second connects', async () => {
    const first = await startConnect(w, EVE);
    const from = w.t.slack.calls.length;
    const second = await startConnect(w, EVE);
    const dm = await waitForDm(w.t, EVE, /enter the code/, from);
    expect(String(dm.body.text)).toContain(`The code sent before (${first}) no longer connects anything.`);
    w.github.decide(first, 'approved', 'eve');
    await tick(w, 5_000);
    expect((await w.t.app.db.raw('SELECT count(*) AS n FROM github_connections'))[0]).toEqual({ n: 0 });
    w.github.decide(second, 'approved', 'eve');
    await tick(w, 5_000);
    await waitForDm(w.t, EVE, /connected to GitHub as \*eve\*/, from);
  });

  it('disconnect during a flow says the code no longer connects anything, and it does not', async () => {
    const code = await startConnect(w, EVE);
    const reply = await run(w.t, EVE, 'github disconnect');
    expect(reply.text).toContain('not connected to GitHub; there is nothing to forget. The code from your last `/jamjet github connect` no longer connects anything.');
    w.github.decide(code, 'approved', 'eve');
    await tick(w, 5_000);
    expect((await w.t.app.db.raw('SELECT count(*) AS n FROM github_connections'))[0]).toEqual({ n: 0 });
  });

  it("a code approved by a GitHub account another Slack user has connected connects nobody, and linking stays refused", async () => {
    await connect(w, ALICE, 'alice');
    await run(w.t, EVE, 'projects create side');
    // Eve gets alice to approve Eve's code on GitHub.
    const from = w.t.slack.calls.length;
    const code = await startConnect(w, EVE);
    w.github.decide(code, 'approved', 'alice');
    await tick(w, 5_000);
    const dm = await waitForDm(w.t, EVE, /already connected to another Slack account/, from);
    expect(String(dm.body.text)).toContain('nothing is connected');
    const rows = await w.t.app.db.raw('SELECT user_id, github_login FROM github_connections ORDER BY user_id');
    expect(rows).toEqual([{ user_id: ALICE, github_login: 'alice' }]);
    expect((await run(w.t, EVE, 'github link side acme/app')).text).toContain('run `/jamjet github connect` first');
    // Once alice disconnects, the account is free for whoever approves a code with it.
    await run(w.t, ALICE, 'projects create alpha');
    await run(w.t, ALICE, 'github disconnect');
    expect((await run(w.t, ALICE, 'github link alpha acme/app')).text).toContain('run `/jamjet github connect` first');
    await connect(w, EVE, 'alice');
  });
});

describe('repositories GitHub knows by another name', () => {
  beforeEach(async () => {
    const github = await new LocalGitHub().listen();
    acme(github);
    // acme/app was once acme/legacy-app; GitHub redirects the old name.
    github.renamed.set('acme/legacy-app', 'acme/app');
    w = await startWorld({ users: [ALICE, EVE], github });
    await connect(w, ALICE, 'alice');
    await connect(w, EVE, 'eve');
    await run(w.t, ALICE, 'projects create alpha');
    await run(w.t, EVE, 'projects create side');
  });
  afterEach(async () => {
    await w.t.stop();
    await w.github.close();
  });

  it.each([
    ['the old name, linked second', 'acme/app', 'acme/legacy-app'],
    ['the current name, linked second', 'acme/legacy-app', 'acme/app'],
    ['the old name in another case', 'acme/app', 'ACME/Legacy-App'],
  ])('%s: one owner per secret still holds', async (_case, first, second) => {
    const linked = await run(w.t, ALICE, `github link alpha ${first}`);
    expect(linked.text).toContain('is linked to acme/app (repository secret JAMJET_API_KEY)');
    const reply = await run(w.t, EVE, `github link side ${second} --secret JAMJET_API_KEY`);
    expect(reply.text).toContain('already holds the key');
    expect(await targetsCount()).toBe(1);
  });
});

describe('what a refused link reveals', () => {
  beforeEach(async () => {
    const github = await new LocalGitHub().listen();
    acme(github);
    w = await startWorld({ users: [ALICE, EVE, ROOT], github });
    await connect(w, ALICE, 'alice');
    await run(w.t, ALICE, 'projects create alpha');
    await run(w.t, EVE, 'projects create side');
  });
  afterEach(async () => {
    await w.t.stop();
    await w.github.close();
  });

  it('someone GitHub does not back learns nothing of what other projects link', async () => {
    // acme/payments is private to alice; eve cannot see it on GitHub.
    expect((await run(w.t, ALICE, 'github link alpha acme/payments')).text).toContain('is linked');
    const unconnected = await run(w.t, EVE, 'github link side acme/payments');
    expect(unconnected.text).toContain('run `/jamjet github connect` first');
    await connect(w, EVE, 'eve');
    for (const text of ['github link side acme/payments', 'github link side acme/payments --env production', 'github link side acme/nothing-here']) {
      const reply = await run(w.t, EVE, text);
      expect(reply.text, text).toContain('GitHub shows eve no repository');
      expect(reply.text, text).not.toContain('holds the key');
    }
  });
});

describe('GitHub refusing the permission read for reasons other than permission', () => {
  beforeEach(async () => {
    const github = await new LocalGitHub().listen();
    acme(github);
    w = await startWorld({ users: [ALICE], github });
    await connect(w, ALICE, 'alice');
    await run(w.t, ALICE, 'projects create alpha');
  });
  afterEach(async () => {
    await w.t.stop();
    await w.github.close();
  });

  it.each([
    ['SAML single sign-on', 'Resource protected by organization SAML enforcement. You must grant your OAuth token access to this organization.', 'authorise acme for the JamJet app'],
    ['a rate limit', 'API rate limit exceeded for user ID 1001.', 'try again in a minute'],
  ])('%s: the reply says what to do, and nothing is linked', async (_case, message, expected) => {
    w.github.override = (call) => (call.authorization !== null && /^\/(repos\/acme\/app|user\/memberships\/orgs\/acme)$/.test(call.path) ? { status: 403, json: { message } } : undefined);
    for (const text of ['github link alpha acme/app', 'github link alpha --org acme']) {
      const reply = await run(w.t, ALICE, text);
      expect(reply.text, text).toContain(expected);
    }
    expect(await targetsCount()).toBe(0);
  });
});

describe('Retry after the linker lost their role', () => {
  const ADAM = 'U0ADAM';
  beforeEach(async () => {
    const github = await new LocalGitHub().listen();
    acme(github);
    github.repos.add('acme/adam-scratch');
    github.grant('acme/adam-scratch', 'adam', 'admin');
    w = await startWorld({ users: [ALICE, ADAM], github });
    await connect(w, ALICE, 'alice');
    await connect(w, ADAM, 'adam');
    await run(w.t, ALICE, 'projects create alpha');
    await reveal(w.t, ALICE);
    await run(w.t, ALICE, `members invite alpha <@${ADAM}> admin`);
  });
  afterEach(async () => {
    await w.t.stop();
    await w.github.close();
  });

  it('writes nothing to the target of an Admin removed since the write failed', async () => {
    expect((await run(w.t, ADAM, 'github link alpha acme/adam-scratch')).text).toContain('is linked');
    // GitHub fails the write to adam's repository during the rotation.
    w.github.override = (call) => (call.method === 'PUT' && call.path.startsWith('/repos/acme/adam-scratch/') ? { status: 502, json: { message: 'Bad gateway' } } : undefined);
    const from = w.t.slack.calls.length;
    await run(w.t, ALICE, 'keys rotate alpha');
    await reveal(w.t, ALICE, from);
    const retry = await waitForButton(w.t, ALICE, 'rotation_retry', from);
    w.github.override = null;
    const failedWrites = w.github.writes().length;
    expect((await run(w.t, ALICE, `members remove alpha <@${ADAM}>`)).text).toContain('Paused the GitHub target they linked');
    const pressed = await press(w.t, ALICE, 'rotation_retry', retry.value);
    // Wait for the Retry's answer (a fixed pause can end before a busy machine gives it), then look at what it wrote.
    await waitForCall(w.t, pressed, (c) => JSON.stringify(c.body).includes('paused, not written'));
    expect(w.github.writes().slice(failedWrites)).toEqual([]);
  });
});
