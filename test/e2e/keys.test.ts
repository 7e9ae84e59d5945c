import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SecretTarget } from '../../src/github/types.ts';
import { FakeGitHub } from '../github/fake-github.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { FakeSlack } from '../helpers/slack.ts';
import { GITHUB_URL, readiness, reveal, run, serveCheck } from './keys-flow.ts';

const OWNER = 'U0OWNER';
const ADMIN = 'U0ADMIN';
const MEMBER = 'U0MEMBER';
const READER = 'U0READER';
const OUTSIDER = 'U0OUTSIDE';
/** A JamJet admin (JAMJET_ADMIN_USERS): links targets without a GitHub connection. */
const ROOT = 'U0ROOT';

let t: TestApp;
let github: FakeGitHub;

const count = async (table: string) => ((await t.app.db.raw(`SELECT count(*) AS n FROM ${table}`))[0] as { n: number }).n;

beforeEach(async () => {
  const slack = new FakeSlack();
  for (const id of [OWNER, ADMIN, MEMBER, READER, OUTSIDER, ROOT]) slack.addUser({ id, email: `${id}@acme.test` });
  github = await new FakeGitHub(GITHUB_URL).init();
  t = await startTestApp({ slack, env: { GITHUB_TOKEN: 'ghp_testtokentesttokentesttokentest0001', GITHUB_API_URL: GITHUB_URL, JAMJET_ADMIN_USERS: ROOT } });
  await run(t, OWNER, 'projects create payments --envs prod');
  await run(t, OWNER, `members invite payments-prod <@${ADMIN}> admin`);
  await run(t, OWNER, `members invite payments-prod <@${MEMBER}> member`);
  await run(t, OWNER, `members invite payments-prod <@${READER}> read_only`);
});
afterEach(async () => {
  await t.stop();
});

describe('keys', () => {
  it('lists keys with name, id, display form, creator, last use and state to every role', async () => {
    const key = await reveal(t, OWNER);
    await readiness(t, 'payments-prod', key);
    for (const replica of t.replicas) await replica.usage.flush();
    await run(t, ADMIN, 'keys create payments-prod --name "ci runner"');
    for (const user of [OWNER, ADMIN, MEMBER, READER]) {
      const list = await run(t, user, 'keys list payments-prod');
      expect(list.text).toContain('(2 active)');
      expect(list.text).toMatch(/\*default\* `key_[0-9a-f]{8}` `jj_[0-9a-f]{4}…[0-9a-f]{4}`: :large_green_circle: active; created by <@U0OWNER>/);
      expect(list.text).toContain('*ci runner*');
      expect(list.text).toContain('last used <!date^');
      expect(list.text).toContain('never used');
      expect(list.text).not.toContain(key);
    }
    expect((await run(t, OUTSIDER, 'keys list payments-prod')).text).toContain('You have no access');
  });

  it('lets only Admins and Owners create, rotate and revoke keys', async () => {
    const before = await Promise.all([count('api_keys'), count('rotations'), count('audit_events')]);
    const keyId = ((await t.app.db.raw('SELECT public_id FROM api_keys'))[0] as { public_id: string }).public_id;
    for (const user of [MEMBER, READER]) {
      for (const text of ['keys create payments-prod', 'keys rotate payments-prod', `keys revoke payments-prod ${keyId}`]) {
        const reply = await run(t, user, text);
        expect(reply.text).toContain('You need to be Admin or above in `payments-prod` to manage its API keys');
        expect(reply.text).toContain('Usage: `/jamjet keys');
      }
    }
    expect(await Promise.all([count('api_keys'), count('rotations'), count('audit_events')])).toEqual(before);
    expect((await run(t, ADMIN, `keys revoke payments-prod ${keyId}`)).text).toContain('is revoked');
    expect((await run(t, ADMIN, `keys revoke payments-prod ${keyId}`)).text).toContain('already revoked');
    expect((await run(t, ADMIN, 'keys revoke payments-prod key_00000000')).text).toContain('has no key `key_00000000`');
    expect((await run(t, ADMIN, 'keys rotate payments-prod')).text).toContain('has no active key to rotate');
  });

  it('refuses bad rotation arguments', async () => {
    expect((await run(t, ADMIN, 'keys rotate payments-prod --overlap forever')).text).toContain('`forever` is not a duration');
    expect((await run(t, ADMIN, 'keys rotate payments-prod --overlap 31d')).text).toContain('at most 30d');
    expect((await run(t, ADMIN, 'keys rotate payments-prod --revoke-now=yes')).text).toMatch(/Usage/);
    expect(await count('rotations')).toBe(0);
  });
});

describe('github targets', () => {
  const target: SecretTarget = { kind: 'environment', owner: 'acme', repo: 'api', environment: 'prod', secretName: 'JAMJET_API_KEY_PROD' };

  it('links with the environment default secret name, lists and unlinks, Admin and above only', async () => {
    expect((await run(t, MEMBER, 'github link payments-prod acme/api --env prod')).text).toContain('You need to be Admin or above');
    const notConnected = await run(t, ADMIN, 'github link payments-prod acme/api --env prod');
    expect(notConnected.text).toContain('ask a JamJet admin (JAMJET_ADMIN_USERS) to link it');
    serveCheck(github, target);
    const linked = await run(t, ROOT, 'github link payments-prod acme/api --env prod');
    expect(linked.text).toContain('acme/api environment prod (secret JAMJET_API_KEY_PROD)');
    expect((await run(t, READER, 'github list payments-prod')).text).toContain('1: acme/api environment prod (secret JAMJET_API_KEY_PROD)');
    expect((await run(t, READER, 'github unlink payments-prod 1')).text).toContain('You need to be Admin or above');
    expect((await run(t, OWNER, 'github unlink payments-prod 1')).text).toContain('The secret stays on GitHub');
    expect((await run(t, OWNER, 'github list payments-prod')).text).toContain('writes to no GitHub secrets');
  });

  it('says what GitHub is missing when the link check fails, and links nothing', async () => {
    const { pathsFor } = await import('../github/fake-github.ts');
    const nock = (await import('nock')).default;
    nock(GITHUB_URL).get(pathsFor(target).publicKey).reply(404, { message: 'Not Found' });
    const reply = await run(t, ROOT, 'github link payments-prod acme/api --env prod');
    expect(reply.text).toMatch(/prod/);
    expect(reply.text).toMatch(/Usage: `\/jamjet github link/);
    expect(await count('github_targets')).toBe(0);
  });

  it('keeps each secret to one project and writes only JAMJET_ names', async () => {
    serveCheck(github, target);
    await run(t, ROOT, 'github link payments-prod acme/api --env prod');
    await run(t, OUTSIDER, 'projects create evil');
    const hijack = await run(t, OUTSIDER, 'github link evil acme/api --env prod --secret JAMJET_API_KEY_PROD');
    // GitHub does not back the outsider there: they learn nothing of what another project links.
    expect(hijack.text).toContain('Linking a GitHub target needs GitHub to confirm you may manage that secret');
    expect(hijack.text).not.toContain('holds the key');
    expect(hijack.text).not.toContain('payments');
    const other = await run(t, OUTSIDER, 'github link evil ACME/API --env PROD --secret jamjet_api_key_prod');
    expect(other.text).toContain('Linking a GitHub target needs GitHub to confirm you may manage that secret');
    expect((await run(t, OUTSIDER, 'github link evil acme/api --secret NPM_TOKEN')).text).toContain('must start with JAMJET_');
    expect(await count('github_targets')).toBe(1);
  });

  it('refuses malformed targets before asking GitHub', async () => {
    for (const [text, expected] of [
      ['github link payments-prod acme', /is not a repository; write it as owner\/repo/],
      ['github link payments-prod acme/api --org acme', /either owner\/repo or --org, not both/],
      ['github link payments-prod', /Say where to write/],
      ['github link payments-prod acme/api --secret GITHUB_TOKEN', /is not a valid secret name/],
      ['github link payments-prod --org acme --visibility selected', /The visibility is all or private/],
      ['github unlink payments-prod seven', /The target id is the number/],
    ] as const) {
      expect((await run(t, ROOT, text)).text).toMatch(expected);
    }
    expect(await count('github_targets')).toBe(0);
  });

  it('explains what to set when GitHub is not configured', async () => {
    await t.stop();
    const slack = new FakeSlack().addUser({ id: OWNER });
    t = await startTestApp({ slack, env: { JAMJET_ADMIN_USERS: OWNER } });
    await run(t, OWNER, 'projects create solo');
    const reply = await run(t, OWNER, 'github link solo acme/api');
    expect(reply.text).toContain('GitHub is not configured: set GITHUB_TOKEN');
  });
});
