/** Round trips: the value GitHub can open is exactly the value written, under the key GitHub handed out. */
import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGitHubSecretStore, type SecretTarget } from '../../src/github/index.ts';
import { countUnmatched, FakeGitHub, NO_RETRY, TOKEN, UPDATED_AT, VALUE } from './fake-github.ts';

const TARGETS: [string, SecretTarget][] = [
  ['repository', { kind: 'repo', owner: 'acme', repo: 'api', secretName: 'JAMJET_API_KEY' }],
  ['environment', { kind: 'environment', owner: 'acme', repo: 'api', environment: 'prod', secretName: 'JAMJET_API_KEY_PROD' }],
  ['organisation', { kind: 'org', org: 'acme', secretName: 'JAMJET_API_KEY', visibility: 'private' }],
];

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());

describe.each([
  ['github.com style', 'http://github.test'],
  ['GHES style', 'http://ghe.test/api/v3'],
])('writing secrets at %s', (_label, apiUrl) => {
  it.each(TARGETS)('%s: writes a secret GitHub can open', async (_kind, target) => {
    const github = await new FakeGitHub(apiUrl).init();
    github.serve(target);
    const unmatched = countUnmatched();
    const store = createGitHubSecretStore({ apiUrl, auth: { kind: 'token', token: TOKEN }, octokitOptions: NO_RETRY });

    const result = await store.write(target, VALUE);
    unmatched.stop();

    expect(result).toEqual({ ok: true, updatedAt: UPDATED_AT });
    expect(unmatched.count).toBe(0);
    // Public key, then PUT, then the read-back that supplies updatedAt.
    expect(github.calls.map((c) => `${c.method} ${c.step}`)).toEqual(
      target.kind === 'org' ? ['GET public_key', 'GET reach', 'PUT write', 'GET read_back'] : ['GET public_key', 'PUT write', 'GET read_back'],
    );
    expect(github.calls.every((c) => c.headers.authorization === `token ${TOKEN}`)).toBe(true);
    const body = github.calls.find((c) => c.step === 'write')!.body!;
    expect(body.key_id).toBe(github.keyId);
    expect(github.open(body.encrypted_value as string)).toBe(VALUE);
    expect(JSON.stringify(body)).not.toContain(VALUE);
    if (target.kind === 'org') expect(body.visibility).toBe('private');
    else expect(body).not.toHaveProperty('visibility');
  });
});

describe('writing secrets', () => {
  const apiUrl = 'http://github.test';
  const store = () => createGitHubSecretStore({ apiUrl, auth: { kind: 'token', token: TOKEN }, octokitOptions: NO_RETRY });

  it('sends org visibility all as given', async () => {
    const target: SecretTarget = { kind: 'org', org: 'acme', secretName: 'K', visibility: 'all' };
    const github = (await new FakeGitHub(apiUrl).init()).serve(target);
    expect((await store().write(target, VALUE)).ok).toBe(true);
    expect(github.calls.find((c) => c.step === 'write')!.body!.visibility).toBe('all');
  });

  it('escapes environment names with spaces into one path segment', async () => {
    const target: SecretTarget = { kind: 'environment', owner: 'acme', repo: 'api', environment: 'Production EU', secretName: 'K' };
    const github = (await new FakeGitHub(apiUrl).init()).serve(target);
    expect(await store().write(target, VALUE)).toEqual({ ok: true, updatedAt: UPDATED_AT });
    expect(github.calls[0]!.path).toBe('/repos/acme/api/environments/Production%20EU/secrets/public-key');
  });

  it('writes unicode values intact', async () => {
    const target = TARGETS[0]![1];
    const github = (await new FakeGitHub(apiUrl).init()).serve(target);
    expect((await store().write(target, 'päss 🔑')).ok).toBe(true);
    expect(github.open(github.calls[1]!.body!.encrypted_value as string)).toBe('päss 🔑');
  });

  it.each(TARGETS)('%s: check reads only the public key', async (_kind, target) => {
    const github = await new FakeGitHub(apiUrl).init();
    github.serve(target);
    expect(await store().check(target)).toEqual({ ok: true, updatedAt: '' });
    expect(github.calls.map((c) => c.step)).toEqual(['public_key']);
  });
});
