/**
 * `github link` under GitHub's authority, end to end against a local GitHub
 * that enforces GitHub's rules: one project taking, shadowing or colliding with another's secrets, one owner per
 * secret under GitHub's precedence, existing secrets, organisation reach,
 * paused and freed targets, the bot's own write permission, and the
 * permission table (GitHub role x kind of secret x how the person links).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalGitHub } from '../drills/local-github.ts';
import { reveal, run } from './keys-flow.ts';
import { connect, rotateAndReport, startWorld, type GitHubWorld } from './github-flow.ts';

const ALICE = 'U0ALICE';
const EVE = 'U0EVE';
const ADAM = 'U0ADAM';
const ROOT = 'U0ROOT';

let w: GitHubWorld;

/** acme's GitHub: alice runs acme (org admin, admin of its repositories); eve is admin of some too; adam of his scratch repo. */
function acme(github: LocalGitHub): void {
  for (const repo of ['acme/app', 'acme/shared', 'acme/tools', 'acme/payments', 'acme/adam-scratch']) github.repos.add(repo);
  for (const repo of ['acme/app', 'acme/shared', 'acme/tools']) github.grant(repo, 'alice', 'admin').grant(repo, 'eve', 'admin');
  github.grant('acme/payments', 'eve', 'admin').grant('acme/payments', 'alice', 'admin');
  github.grant('acme/adam-scratch', 'adam', 'admin');
  github.addEnvironment('acme/shared', 'production').addEnvironment('acme/app', 'production').addEnvironment('acme/tools', 'staging');
  github.member('acme', 'alice', 'admin').member('acme', 'jamjet-bot', 'admin').member('acme', 'eve', 'member');
}

const writesTo = (fragment: string) => w.github.writes().filter((c) => c.path.includes(fragment));
const targetsCount = async () => ((await w.t.app.db.raw('SELECT count(*) AS n FROM github_targets WHERE removed_at IS NULL'))[0] as { n: number }).n;

/** Rotates and waits for the DM that reports the GitHub writes; returns the new key. */
const rotate = (user: string, project: string) => rotateAndReport(w.t, user, project);

/** Revokes the old key of the rotation in its overlap, so the next one may start. */
async function finishRotation(user: string): Promise<void> {
  const { revokeOldKey } = await import('../../src/services/rotation-endings.ts');
  const rotation = (await w.t.app.db.raw("SELECT id FROM rotations WHERE state = 'overlap'"))[0] as { id: number };
  expect((await revokeOldKey(w.t.app.services, { userId: user, isAdmin: false }, rotation.id, true)).ok).toBe(true);
}

beforeEach(async () => {
  const github = await new LocalGitHub().listen();
  acme(github);
  w = await startWorld({ users: [ALICE, EVE, ADAM, ROOT], adminUsers: [ROOT], github });
  await connect(w, ALICE, 'alice');
  await connect(w, EVE, 'eve');
  await run(w.t, ALICE, 'projects create alpha');
});
afterEach(async () => {
  await w.t.stop();
  await w.github.close();
});

describe('one project against the secrets another linked', () => {
  it('alpha links its secrets; side can neither take, shadow nor collide with them, and its rotation writes nothing of alpha', async () => {
    for (const text of [
      'github link alpha acme/app --secret JAMJET_API_KEY',
      'github link alpha acme/shared --env production --secret JAMJET_API_KEY',
      'github link alpha --org acme --secret JAMJET_API_KEY_ORG',
    ]) {
      expect((await run(w.t, ALICE, text)).text).toContain(':link: `alpha` is linked');
    }
    await run(w.t, EVE, 'projects create side');
    const attempts: [string, string][] = [
      ['github link side acme/shared --env Production --secret JAMJET_API_KEY', 'already holds the key of a project you have no access to'],
      ['github link side acme/app --env production --secret JAMJET_API_KEY', 'would take precedence, in GitHub workflows, over acme/app (repository secret JAMJET_API_KEY)'],
      ['github link side acme/tools --secret JAMJET_API_KEY_ORG', 'would take precedence, in GitHub workflows, over organisation acme'],
      ['github link side ACME/App --secret jamjet_api_key', 'already holds the key of a project you have no access to'],
    ];
    for (const [text, expected] of attempts) {
      const reply = await run(w.t, EVE, text);
      expect(reply.text, text).toContain(expected);
      expect(reply.text).toContain('choose another secret name with `--secret`');
      expect(reply.text).not.toContain('alpha');
    }
    expect(await targetsCount()).toBe(3);
    const from = w.t.slack.calls.length;
    const rotated = await run(w.t, EVE, 'keys rotate side');
    expect(rotated.text).not.toContain('GitHub target');
    await reveal(w.t, EVE, from);
    expect(w.github.writes()).toEqual([]);
  });

  it('someone who is not a GitHub admin of the repository cannot link it, even as the project Owner', async () => {
    await run(w.t, EVE, 'projects create side');
    const reply = await run(w.t, EVE, 'github link side acme/adam-scratch');
    expect(reply.text).toContain('GitHub shows eve no repository acme/adam-scratch');
    w.github.grant('acme/adam-scratch', 'eve', 'write');
    const write = await run(w.t, EVE, 'github link side acme/adam-scratch');
    expect(write.text).toContain('GitHub says eve is not an admin of acme/adam-scratch (write access only)');
    expect(write.text).toContain('ask a repository admin to run this link');
    const org = await run(w.t, EVE, 'github link side --org acme');
    expect(org.text).toContain('Organisation secrets need an active admin of acme, and eve is not one (GitHub says: role member, active)');
    expect(await targetsCount()).toBe(0);
  });
});

describe('a GitHub token revoked since it was connected', () => {
  it('is forgotten, and the person is asked to connect again', async () => {
    const aliceToken = [...w.github.tokens.entries()].find(([, a]) => a.login === 'alice')![0];
    w.github.revoked.add(aliceToken);
    const reply = await run(w.t, ALICE, 'github link alpha acme/app');
    expect(reply.text).toContain('Your GitHub connection (alice) no longer works (the token expired or was revoked): run `/jamjet github connect` again');
    expect((await w.t.app.db.raw('SELECT count(*) AS n FROM github_connections WHERE user_id = ?', [ALICE]))[0]).toEqual({ n: 0 });
    expect((await run(w.t, ALICE, 'github link alpha acme/app')).text).toContain('run `/jamjet github connect` first');
    expect(await targetsCount()).toBe(0);
  });
});

describe("GitHub's precedence: one test per level", () => {
  it.each([
    ['environment over repository', 'github link alpha acme/app', 'github link side acme/app --env production', 'would take precedence'],
    ['repository under environment', 'github link alpha acme/shared --env production', 'github link side acme/shared', 'would be overridden, in GitHub workflows, by'],
    ['repository over organisation', 'github link alpha --org acme', 'github link side acme/tools', 'would take precedence'],
    ['environment over organisation', 'github link alpha --org acme', 'github link side acme/tools --env staging', 'would take precedence'],
    ['organisation under repository', 'github link alpha acme/tools', 'github link side --org ACME', 'would be overridden'],
    ['the same environment in another case', 'github link alpha acme/shared --env production', 'github link side acme/shared --env PRODUCTION', 'already holds the key'],
  ])('%s', async (_level, alphaLink, sideLink, expected) => {
    expect((await run(w.t, ALICE, alphaLink)).text).toContain('is linked');
    await run(w.t, ALICE, 'projects create side');
    const reply = await run(w.t, ALICE, `${sideLink} --secret JAMJET_API_KEY`);
    expect(reply.text).toContain(expected);
    // The person has access to both projects: the reply names the holder and how to free it.
    expect(reply.text).toContain('`alpha`: unlink it there first (`/jamjet github unlink alpha 1`)');
    expect(await targetsCount()).toBe(1);
  });

  it('lets one project hold its secret at several levels, and other repositories stay free', async () => {
    expect((await run(w.t, ALICE, 'github link alpha --org acme')).text).toContain('is linked');
    expect((await run(w.t, ALICE, 'github link alpha acme/app')).text).toContain('is linked');
    expect((await run(w.t, ALICE, 'github link alpha acme/app --env production')).text).toContain('is linked');
    await run(w.t, EVE, 'projects create side');
    w.github.grant('acme/payments', 'eve', 'admin');
    // Another name in the same organisation is free.
    expect((await run(w.t, EVE, 'github link side acme/payments --secret JAMJET_API_KEY_SIDE')).text).toContain('is linked');
    expect(await targetsCount()).toBe(4);
  });
});

describe('existing secrets', () => {
  it('refuses one set by hand, naming when it was updated, unless --replace-existing (which still needs admin)', async () => {
    w.github.putByHand('acme/payments/JAMJET_API_KEY', '2025-06-01T10:00:00Z');
    await run(w.t, EVE, 'projects create side');
    const reply = await run(w.t, EVE, 'github link side acme/payments');
    expect(reply.text).toContain('acme/payments (repository secret JAMJET_API_KEY) already exists on GitHub and was not written by this bot (last updated 2025-06-01T10:00:00Z)');
    expect(reply.text).toContain('--replace-existing');
    expect(await targetsCount()).toBe(0);
    await connect(w, ADAM, 'adam');
    await run(w.t, EVE, `members invite side <@${ADAM}> admin`);
    expect((await run(w.t, ADAM, 'github link side acme/payments --replace-existing')).text).toContain('GitHub shows adam no repository acme/payments');
    const replaced = await run(w.t, EVE, 'github link side acme/payments --replace-existing');
    expect(replaced.text).toContain('will be overwritten at the next rotation');
    const audit = (await w.t.app.db.raw("SELECT details FROM audit_events WHERE action = 'github.linked'"))[0] as { details: string };
    expect(JSON.parse(audit.details)).toMatchObject({ replaced_existing: '2025-06-01T10:00:00Z', authority: { github_login: 'eve' } });
  });

  it("frees a deleted project's secrets: another project links what the bot wrote without --replace-existing", async () => {
    await reveal(w.t, ALICE);
    await run(w.t, ALICE, 'github link alpha acme/app');
    const { key } = await rotate(ALICE, 'alpha');
    expect(w.github.open(w.github.secrets.get('acme/app/JAMJET_API_KEY')!.encryptedValue)).toBe(key);
    await run(w.t, EVE, 'projects create side');
    expect((await run(w.t, EVE, 'github link side acme/app')).text).toContain('already holds the key');

    const { deleteProject } = await import('../../src/services/projects.ts');
    expect((await deleteProject(w.t.app.services, { userId: ALICE, isAdmin: false }, 'alpha', 'alpha')).ok).toBe(true);
    expect((await run(w.t, EVE, 'github link side acme/app')).text).toContain(':link: `side` is linked to acme/app');
    // Once someone changes it by hand, it is no longer the bot's.
    w.github.putByHand('acme/app/JAMJET_API_KEY_OTHER');
    expect((await run(w.t, EVE, 'github link side acme/app --secret JAMJET_API_KEY_OTHER')).text).toContain('was not written by this bot');
  });
});

describe('organisation secrets', () => {
  it('keep visibility selected and the selected repositories across rotations', async () => {
    const selected = [w.github.repoId('acme/app'), w.github.repoId('acme/tools'), 501, 502];
    w.github.putByHand('org:acme/JAMJET_API_KEY', '2025-06-01T10:00:00Z', { visibility: 'selected', selectedRepositoryIds: selected });
    await reveal(w.t, ALICE);
    expect((await run(w.t, ALICE, 'github link alpha --org acme --visibility private')).text).toContain('already exists on GitHub');
    expect((await run(w.t, ALICE, 'github link alpha --org acme --visibility private --replace-existing')).text).toContain('is linked');
    for (let i = 0; i < 2; i++) {
      const { key, report } = await rotate(ALICE, 'alpha');
      expect(report).toContain('1 of 1 GitHub targets written');
      const held = w.github.secrets.get('org:acme/JAMJET_API_KEY')!;
      expect(w.github.open(held.encryptedValue)).toBe(key);
      expect(held.visibility).toBe('selected');
      expect(held.selectedRepositoryIds).toEqual(selected);
      await finishRotation(ALICE);
    }
  });

  it('applies --visibility only when the bot creates the secret', async () => {
    await reveal(w.t, ALICE);
    await run(w.t, ALICE, 'github link alpha --org acme --visibility all');
    await rotate(ALICE, 'alpha');
    expect(w.github.secrets.get('org:acme/JAMJET_API_KEY')!.visibility).toBe('all');
  });
});

describe('lifecycle', () => {
  it("pauses what a removed Admin linked, lists it in the reply, and writes it no more until it is linked again", async () => {
    await reveal(w.t, ALICE);
    await connect(w, ADAM, 'adam');
    await run(w.t, ALICE, `members invite alpha <@${ADAM}> admin`);
    expect((await run(w.t, ADAM, 'github link alpha acme/adam-scratch')).text).toContain('is linked');
    expect((await run(w.t, ALICE, 'github link alpha acme/app')).text).toContain('is linked');

    const removed = await run(w.t, ALICE, `members remove alpha <@${ADAM}>`);
    expect(removed.text).toContain('Paused the GitHub target they linked');
    expect(removed.text).toContain('acme/adam-scratch (repository secret JAMJET_API_KEY)');
    expect(removed.text).not.toContain('acme/app');
    expect((await run(w.t, ALICE, 'github list alpha')).text).toMatch(/acme\/adam-scratch \(repository secret JAMJET_API_KEY\), linked by <@U0ADAM> .* paused/);

    const { report } = await rotate(ALICE, 'alpha');
    expect(report).toContain('1 of 1 GitHub targets written');
    expect(report).toContain('acme/adam-scratch (repository secret JAMJET_API_KEY): paused, not written');
    expect(writesTo('/repos/acme/adam-scratch/')).toEqual([]);
    expect(writesTo('/repos/acme/app/')).toHaveLength(1);

    // Only someone GitHub says may manage it can take it back; then it is written again.
    expect((await run(w.t, ALICE, 'github link alpha acme/adam-scratch')).text).toContain('GitHub shows alice no repository acme/adam-scratch');
    w.github.grant('acme/adam-scratch', 'alice', 'admin');
    expect((await run(w.t, ALICE, 'github link alpha acme/adam-scratch')).text).toContain('is linked again');
    await finishRotation(ALICE);
    const again = await rotate(ALICE, 'alpha');
    expect(again.report).toContain('2 of 2 GitHub targets written');
    expect(writesTo('/repos/acme/adam-scratch/')).toHaveLength(1);
  });

  it('pauses on demotion to Member too, and says so', async () => {
    await connect(w, ADAM, 'adam');
    await run(w.t, ALICE, `members invite alpha <@${ADAM}> admin`);
    await run(w.t, ADAM, 'github link alpha acme/adam-scratch');
    const demoted = await run(w.t, ALICE, `members role alpha <@${ADAM}> member`);
    expect(demoted.text).toContain('is now Member');
    expect(demoted.text).toContain('Paused the GitHub target they linked');
    expect((await run(w.t, ALICE, `members role alpha <@${ADAM}> read_only`)).text).not.toContain('Paused');
  });
});

describe("the bot's own credential", () => {
  it('a classic token that can read but not write secrets does not pass the link, and says which scope is missing', async () => {
    await w.t.stop();
    w.github.addToken('ghp_readonlyreadonlyreadonlyreadonly01', 'jamjet-bot', 'read:org, workflow');
    w = await startWorld({ users: [ALICE], github: w.github, botToken: 'ghp_readonlyreadonlyreadonlyreadonly01' });
    await connect(w, ALICE, 'alice');
    await run(w.t, ALICE, 'projects create alpha');
    const reply = await run(w.t, ALICE, 'github link alpha acme/app');
    expect(reply.text).toContain('The bot cannot write acme/app (repository secret JAMJET_API_KEY): GITHUB_TOKEN is a classic token without the repo scope');
    expect(reply.text).toContain('Ask whoever runs JamJet to grant it');
    const org = await run(w.t, ALICE, 'github link alpha --org acme');
    expect(org.text).toContain('without the admin:org scope');
    expect(await targetsCount()).toBe(0);
  });

  it("an account with read access only does not pass either", async () => {
    w.github.repos.delete('acme/tools');
    w.github.grant('acme/tools', 'jamjet-bot', 'read');
    const reply = await run(w.t, ALICE, 'github link alpha acme/tools');
    expect(reply.text).toContain('the GitHub account of GITHUB_TOKEN has only read access to acme/tools');
    expect(await targetsCount()).toBe(0);
  });
});

describe('the permission table', () => {
  const ROLES = ['admin', 'write-only', 'none'] as const;
  const KINDS = ['repo', 'env', 'org'] as const;
  const HOW = ['connected', 'not connected', 'JAMJET_ADMIN_USERS'] as const;
  const cases = ROLES.flatMap((role) => KINDS.flatMap((kind) => HOW.map((how) => [role, kind, how] as const)));

  it(`covers ${cases.length} cases: only a GitHub admin (or a JamJet admin) links`, async () => {
    const PERSON = { connected: 'U0PAT', 'not connected': 'U0NED', JAMJET_ADMIN_USERS: ROOT } as const;
    await w.t.stop();
    w = await startWorld({ users: [ALICE, ROOT, 'U0PAT', 'U0NED'], adminUsers: [ROOT], github: w.github });
    await connect(w, 'U0PAT', 'pat');
    const results: string[] = [];
    let n = 0;
    for (const [role, kind, how] of cases) {
      n++;
      const repo = `acme/t${n}`;
      const org = `org${n}`;
      w.github.repos.add(repo);
      w.github.addEnvironment(repo, 'prod');
      w.github.member(org, 'jamjet-bot', 'admin');
      for (const login of ['pat', 'ned']) {
        if (role === 'admin') w.github.grant(repo, login, 'admin').member(org, login, 'admin');
        if (role === 'write-only') w.github.grant(repo, login, 'write').member(org, login, 'member');
      }
      const user = PERSON[how];
      const project = `p${n}`;
      await run(w.t, user, `projects create ${project}`);
      const where = kind === 'org' ? `--org ${org}` : kind === 'env' ? `${repo} --env prod` : repo;
      const reply = await run(w.t, user, `github link ${project} ${where}`);
      const linked = reply.text.includes(':link:');
      results.push(`${role}/${kind}/${how}: ${linked ? 'linked' : 'refused'}`);
      const expected = how === 'JAMJET_ADMIN_USERS' || (how === 'connected' && role === 'admin');
      expect(linked, `${role} ${kind} ${how}: ${reply.text}`).toBe(expected);
      if (!linked) {
        expect(reply.text, `${role} ${kind} ${how}`).toMatch(
          how === 'not connected' ? /run `\/jamjet github connect` first/ : kind === 'org' ? /ask an organisation admin to link it/ : /ask a repository admin/,
        );
      }
    }
    expect(results).toHaveLength(27);
    expect(results.filter((r) => r.endsWith('linked'))).toHaveLength(12);
  }, 60_000);
});
