/** Every GitHub answer that is not a success becomes a SecretResult naming what is missing. */
import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGitHubSecretStore, type SecretResult, type SecretTarget } from '../../src/github/index.ts';
import { countUnmatched, FakeGitHub, NO_RETRY, TOKEN, VALUE, type Step } from './fake-github.ts';

const API = 'http://github.test';
const REPO: SecretTarget = { kind: 'repo', owner: 'acme', repo: 'api', secretName: 'JAMJET_API_KEY' };
const ENV: SecretTarget = { kind: 'environment', owner: 'acme', repo: 'api', environment: 'prod', secretName: 'JAMJET_API_KEY' };
const ORG: SecretTarget = { kind: 'org', org: 'acme', secretName: 'JAMJET_API_KEY', visibility: 'private' };

// What each kind of target must name on 403 (a permission) and 404 (what is missing).
const NAMES = {
  repo: { forbidden: ['"Secrets: read and write" on acme/api', 'repo scope'], missing: 'no repository acme/api' },
  environment: {
    forbidden: ['"Secrets: read and write" and "Environments: read and write" on acme/api'],
    missing: 'no environment prod in acme/api',
  },
  org: { forbidden: ['organisation permission "Secrets: read and write" on acme', 'admin:org'], missing: 'no organisation acme' },
};

// GitHub echoing our secrets back would be a GitHub bug; the message must still not carry them.
const ECHO = { message: `Invalid request <!channel>\n${VALUE} ${TOKEN}`, errors: [{ message: 'secret_name is too long' }] };

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());

const store = () => createGitHubSecretStore({ apiUrl: API, auth: { kind: 'token', token: TOKEN }, octokitOptions: NO_RETRY });

async function writeWith(target: SecretTarget, step: Step, status: number, body: unknown = { message: 'nope' }) {
  const github = (await new FakeGitHub(API).init()).serve(target, { [step]: { status, body } });
  const unmatched = countUnmatched();
  const result = await store().write(target, VALUE);
  unmatched.stop();
  // Nothing after the failing step was attempted, and nothing was retried.
  expect(unmatched.count).toBe(0);
  expect(github.calls.at(-1)!.step).toBe(step);
  return result as Extract<SecretResult, { ok: false }>;
}

function expectClean(result: Extract<SecretResult, { ok: false }>) {
  expect(result.ok).toBe(false);
  expect(result.message).not.toContain(VALUE);
  expect(result.message).not.toContain(TOKEN);
  expect(result.retryable).toBe(result.code === 'unavailable');
}

const STEPS: Step[] = ['public_key', 'write', 'read_back'];
const CASES = ([REPO, ENV, ORG] as const).flatMap((target) => STEPS.map((step) => [target.kind, step, target] as const));

describe.each(CASES)('%s secret, failing at %s', (_kind, step, target) => {
  const written = step === 'read_back';

  it('401 → unauthorized, naming GITHUB_TOKEN', async () => {
    const result = await writeWith(target, step, 401, { message: 'Bad credentials' });
    expect(result).toMatchObject({ code: 'unauthorized', status: 401, retryable: false });
    expect(result.message).toContain('GITHUB_TOKEN');
    expect(result.message.startsWith('The secret was written')).toBe(written);
    expectClean(result);
  });

  it('403 → forbidden, naming the permission', async () => {
    const result = await writeWith(target, step, 403, { message: 'Resource not accessible by personal access token' });
    expect(result).toMatchObject({ code: 'forbidden', status: 403, retryable: false });
    for (const words of NAMES[target.kind].forbidden) expect(result.message).toContain(words);
    expectClean(result);
  });

  it('404 → not_found, naming the target', async () => {
    const result = await writeWith(target, step, 404, { message: 'Not Found' });
    expect(result).toMatchObject({ code: 'not_found', status: 404, retryable: false });
    if (written) expect(result.message).toContain('could not find it when reading it back');
    else expect(result.message).toContain(NAMES[target.kind].missing);
    expectClean(result);
  });

  it("422 → invalid, with GitHub's message sanitised", async () => {
    const result = await writeWith(target, step, 422, ECHO);
    expect(result).toMatchObject({ code: 'invalid', status: 422, retryable: false });
    expect(result.message).toContain('Invalid request');
    expect(result.message).toContain('secret_name is too long');
    expect(result.message).not.toMatch(/[<>\n]/);
    expectClean(result);
  });

  it('500 → unavailable and retryable', async () => {
    const result = await writeWith(target, step, 500);
    expect(result).toMatchObject({ code: 'unavailable', status: 500, retryable: true });
    expect(result.message.startsWith('The secret was written')).toBe(written);
    expectClean(result);
  });
});

describe('other failures', () => {
  it.each([
    ['429', { status: 429 }],
    ['a 403 rate limit', { status: 403, headers: { 'x-ratelimit-remaining': '0' } }],
    ['a 403 secondary rate limit', { status: 403, headers: { 'retry-after': '60' } }],
    ['502', { status: 502 }],
  ])('%s is unavailable and retryable', async (_label, answer) => {
    (await new FakeGitHub(API).init()).serve(REPO, { public_key: answer });
    const result = await store().write(REPO, VALUE);
    expect(result).toMatchObject({ ok: false, code: 'unavailable', status: answer.status, retryable: true });
  });

  it('a network error is unavailable with no status', async () => {
    nock(API).get('/repos/acme/api/actions/secrets/public-key').replyWithError('socket hang up');
    const result = await store().write(REPO, VALUE);
    expect(result).toMatchObject({ ok: false, code: 'unavailable', status: null, retryable: true });
    expect(result.ok || result.message).toContain('could not be reached');
  });

  it('a public key that is not a sealed-box key is invalid and nothing is written', async () => {
    nock(API).get('/repos/acme/api/actions/secrets/public-key').reply(200, { key_id: '1', key: 'c2hvcnQ=' });
    const unmatched = countUnmatched();
    const result = await store().write(REPO, VALUE);
    unmatched.stop();
    expect(result).toMatchObject({ ok: false, code: 'invalid', status: null, retryable: false });
    expect(unmatched.count).toBe(0);
  });

  it.each([
    ['public key 403', 403, 'forbidden'],
    ['public key 404', 404, 'not_found'],
    ['public key 500', 500, 'unavailable'],
  ] as const)('check reports a %s', async (_label, status, code) => {
    (await new FakeGitHub(API).init()).serve(ENV, { public_key: { status } });
    expect(await store().check(ENV)).toMatchObject({ ok: false, code, status });
  });

  it('refuses an invalid target without calling GitHub', async () => {
    const unmatched = countUnmatched();
    const target: SecretTarget = { ...REPO, secretName: 'GITHUB_TOKEN' };
    const results = [await store().write(target, VALUE), await store().check(target)];
    unmatched.stop();
    for (const result of results) expect(result).toMatchObject({ ok: false, code: 'invalid', status: null, retryable: false });
    expect(unmatched.count).toBe(0);
  });

  it('plain @octokit/rest does not retry a 500, even without octokitOptions', async () => {
    const github = (await new FakeGitHub(API).init()).serve(REPO, { public_key: { status: 500 } });
    const unmatched = countUnmatched();
    const result = await createGitHubSecretStore({ apiUrl: API, auth: { kind: 'token', token: TOKEN } }).write(REPO, VALUE);
    unmatched.stop();
    expect(result).toMatchObject({ ok: false, code: 'unavailable' });
    // One request, answered once: a retry would be a second call (unmatched), whatever the machine's speed.
    expect(github.calls.map((c) => c.step)).toEqual(['public_key']);
    expect(unmatched.count).toBe(0);
  });
});

describe('not configured', () => {
  it.each([REPO, ENV, ORG])('answers without any HTTP request for %j', async (target) => {
    const unmatched = countUnmatched();
    const unconfigured = createGitHubSecretStore({ apiUrl: API, auth: null });
    const results = [await unconfigured.write(target, VALUE), await unconfigured.check(target)];
    unmatched.stop();
    expect(unmatched.count).toBe(0);
    for (const result of results) {
      expect(result).toEqual({
        ok: false,
        code: 'not_configured',
        status: null,
        retryable: false,
        message:
          'GitHub is not configured: set GITHUB_TOKEN (fine-grained, Secrets: write) or GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID.',
      });
    }
  });
});
