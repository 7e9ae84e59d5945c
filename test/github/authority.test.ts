/**
 * The pieces of GitHub authority on their own: sealing user tokens, the
 * device-flow and permission reads with a person's token, what the bot's own
 * credential may write, organisation reach kept across writes, secret
 * identity and precedence, and the GitHub web address.
 */
import { generateKeyPairSync } from 'node:crypto';
import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, webUrlFor } from '../../src/config.ts';
import { createGitHubSecretStore, type SecretTarget } from '../../src/github/index.ts';
import { createTokenSealer } from '../../src/github/token-seal.ts';
import { createGitHubUsers } from '../../src/github/users.ts';
import { overlap, secretKey, type TargetSpec } from '../../src/services/github-targets.ts';
import { FakeGitHub, NO_RETRY, TOKEN, VALUE } from './fake-github.ts';

const WEB = 'http://github.test';
const API = 'http://api.github.test';
const USER_TOKEN = 'gho_' + 'U5erT0ken'.repeat(4);

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());

describe('sealing user tokens', () => {
  const sealer = createTokenSealer('xoxb-operator-secret');

  it('opens only with the same secret and owner, and never holds the plaintext', () => {
    const sealed = sealer.seal(USER_TOKEN, 'U1');
    expect(sealed.includes(Buffer.from(USER_TOKEN))).toBe(false);
    expect(sealer.open(sealed, 'U1')).toBe(USER_TOKEN);
    expect(sealer.open(sealed, 'U2')).toBeNull();
    expect(createTokenSealer('xoxb-other').open(sealed, 'U1')).toBeNull();
    const tampered = Buffer.from(sealed);
    tampered[tampered.length - 1]! ^= 1;
    expect(sealer.open(tampered, 'U1')).toBeNull();
    expect(sealer.open(Buffer.from('short'), 'U1')).toBeNull();
    // Fresh salt and IV each time.
    expect(sealer.seal(USER_TOKEN, 'U1').equals(sealed)).toBe(false);
  });
});

describe("GitHub on a person's behalf", () => {
  const users = createGitHubUsers({ webUrl: WEB, apiUrl: API, clientId: 'Iv1.abc' });

  it('asks for a device code with the client id and reads GitHub’s answer', async () => {
    let sent = '';
    nock(WEB)
      .post('/login/device/code', (body) => ((sent = new URLSearchParams(body as Record<string, string>).toString()), true))
      .matchHeader('accept', 'application/json')
      .reply(200, { device_code: 'dc', user_code: 'ABCD-1234', verification_uri: 'https://github.com/login/device', expires_in: 899, interval: 5 });
    expect(await users.requestDeviceCode()).toEqual({
      kind: 'ok',
      code: { deviceCode: 'dc', userCode: 'ABCD-1234', verificationUri: 'https://github.com/login/device', expiresIn: 899, interval: 5 },
    });
    expect(sent).toContain('client_id=Iv1.abc');
    nock(WEB)
      .post('/login/device/code')
      .reply(200, { device_code: 'dc', user_code: '<!channel>', verification_uri: 'javascript:alert(1)', expires_in: 900, interval: 5 });
    expect(await users.requestDeviceCode()).toMatchObject({ kind: 'refused' });
    // Odd timings: no polling many times a second, no code alive for ever, no endless error text.
    nock(WEB)
      .post('/login/device/code')
      .reply(200, { device_code: 'dc', user_code: 'ABCD-1234', verification_uri: 'https://github.com/login/device', expires_in: 1e12, interval: 0.001 });
    expect(await users.requestDeviceCode()).toMatchObject({ kind: 'ok', code: { expiresIn: 3600, interval: 1 } });
    nock(WEB).post('/login/device/code').reply(200, { error: 'x'.repeat(5000) });
    expect(await users.requestDeviceCode()).toEqual({ kind: 'refused', detail: 'x'.repeat(60) });
    nock(WEB).post('/login/device/code').reply(200, { error: 'device_flow_disabled' });
    expect(await users.requestDeviceCode()).toEqual({ kind: 'refused', detail: 'device_flow_disabled' });
  });

  it.each([
    [{ error: 'authorization_pending' }, { kind: 'pending' }],
    [{ error: 'slow_down', interval: 10 }, { kind: 'slow_down', interval: 10 }],
    [{ error: 'slow_down' }, { kind: 'slow_down', interval: null }],
    [{ error: 'slow_down', interval: 1e15 }, { kind: 'slow_down', interval: 600 }],
    [{ error: 'expired_token' }, { kind: 'expired' }],
    [{ error: 'access_denied' }, { kind: 'denied' }],
    [{ error: 'incorrect_device_code' }, { kind: 'refused', detail: 'incorrect_device_code' }],
    [{ access_token: USER_TOKEN, token_type: 'bearer' }, { kind: 'token', token: USER_TOKEN }],
  ])('reads the token endpoint answer %j', async (answer, expected) => {
    let body: Record<string, string> = {};
    nock(WEB)
      .post('/login/oauth/access_token', (b) => ((body = b as Record<string, string>), true))
      .reply(200, answer);
    expect(await users.pollToken('dc')).toEqual(expected);
    expect(body).toEqual({ client_id: 'Iv1.abc', device_code: 'dc', grant_type: 'urn:ietf:params:oauth:grant-type:device_code' });
  });

  it('reports an outage as a value that carries no token', async () => {
    nock(API).get('/user').reply(502, 'bad gateway');
    expect(await users.getUser(USER_TOKEN)).toEqual({ kind: 'unavailable', detail: 'GitHub answered HTTP 502' });
    // No route at all: the network refuses (nock has net connect disabled).
    const unreachable = await users.repoPermission(USER_TOKEN, 'acme', 'app');
    expect(unreachable.kind).toBe('unavailable');
    expect(JSON.stringify(unreachable)).not.toContain(USER_TOKEN);
  });

  it("reads the person's repository permission and organisation membership with their token", async () => {
    nock(API)
      .get('/repos/acme/app')
      .matchHeader('authorization', `Bearer ${USER_TOKEN}`)
      .reply(200, { full_name: 'Acme/App', permissions: { admin: true, push: true } });
    expect(await users.repoPermission(USER_TOKEN, 'acme', 'app')).toEqual({ kind: 'ok', admin: true, push: true, owner: 'Acme', repo: 'App' });
    // A renamed repository: GitHub answers with its current name.
    nock(API).get('/repos/acme/old-app').reply(200, { full_name: 'acme/app', permissions: { admin: true, push: true } });
    expect(await users.repoPermission(USER_TOKEN, 'acme', 'old-app')).toMatchObject({ kind: 'ok', owner: 'acme', repo: 'app' });
    // An answer without a usable full_name is not GitHub's word on any repository.
    nock(API).get('/repos/acme/app').reply(200, { full_name: '../evil', permissions: { admin: true, push: true } });
    expect(await users.repoPermission(USER_TOKEN, 'acme', 'app')).toMatchObject({ kind: 'unavailable' });
    // 403s that are not about permission: a rate limit passes, SAML single sign-on needs the token authorised.
    nock(API).get('/repos/acme/app').reply(403, { message: 'API rate limit exceeded for user ID 1.' });
    expect(await users.repoPermission(USER_TOKEN, 'acme', 'app')).toMatchObject({ kind: 'unavailable' });
    nock(API)
      .get('/repos/acme/app')
      .reply(403, { message: 'Resource protected by organization SAML enforcement. You must grant your OAuth token access to this organization.' });
    expect(await users.repoPermission(USER_TOKEN, 'acme', 'app')).toEqual({ kind: 'sso' });
    nock(API).get('/user/memberships/orgs/acme').reply(403, { message: 'Resource protected by organization SAML enforcement.' });
    expect(await users.orgMembership(USER_TOKEN, 'acme')).toEqual({ kind: 'sso' });
    nock(API).get('/repos/acme/app').reply(403, { message: 'Must have admin rights to Repository.' });
    expect(await users.repoPermission(USER_TOKEN, 'acme', 'app')).toEqual({ kind: 'not_found' });
    nock(API).get('/repos/acme/secret').reply(404, { message: 'Not Found' });
    expect(await users.repoPermission(USER_TOKEN, 'acme', 'secret')).toEqual({ kind: 'not_found' });
    nock(API).get('/user/memberships/orgs/acme').reply(200, { role: 'admin', state: 'pending' });
    expect(await users.orgMembership(USER_TOKEN, 'acme')).toEqual({ kind: 'ok', role: 'admin', state: 'pending', org: 'acme' });
    nock(API).get('/user/memberships/orgs/acme').reply(200, { role: 'admin', state: 'active', organization: { login: 'ACME' } });
    expect(await users.orgMembership(USER_TOKEN, 'acme')).toEqual({ kind: 'ok', role: 'admin', state: 'active', org: 'ACME' });
    nock(API).get('/user/memberships/orgs/acme').reply(401, { message: 'Bad credentials' });
    expect(await users.orgMembership(USER_TOKEN, 'acme')).toEqual({ kind: 'unauthorized' });
  });

  it('is off without a client id', async () => {
    const off = createGitHubUsers({ webUrl: WEB, apiUrl: API, clientId: null });
    expect(off.connectEnabled).toBe(false);
    expect(await off.requestDeviceCode()).toMatchObject({ kind: 'refused' });
  });
});

describe("what the bot's own credential may write", () => {
  const repo: SecretTarget = { kind: 'repo', owner: 'acme', repo: 'api', secretName: 'JAMJET_API_KEY' };
  const env: SecretTarget = { kind: 'environment', owner: 'acme', repo: 'api', environment: 'prod', secretName: 'JAMJET_API_KEY' };
  const org: SecretTarget = { kind: 'org', org: 'acme', secretName: 'JAMJET_API_KEY', visibility: 'private' };
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });

  async function inspectAsApp(target: SecretTarget, permissions: Record<string, string>) {
    const github = await new FakeGitHub(API).init();
    nock(API).post('/app/installations/1/access_tokens').reply(201, { token: 'ghs_' + 'I'.repeat(36), expires_at: '2099-01-01T00:00:00Z', permissions });
    const root = target.kind === 'org' ? `/orgs/acme/actions/secrets` : target.kind === 'repo' ? '/repos/acme/api/actions/secrets' : '/repos/acme/api/environments/prod/secrets';
    nock(API).get(`${root}/public-key`).reply(200, { key_id: github.keyId, key: github.publicKeyBase64 });
    nock(API).get(`${root}/JAMJET_API_KEY`).reply(200, { name: 'JAMJET_API_KEY', updated_at: '2025-01-01T00:00:00Z' });
    const store = createGitHubSecretStore({ apiUrl: API, auth: { kind: 'app', appId: '7', privateKey, installationId: '1' }, octokitOptions: NO_RETRY });
    return store.inspect(target);
  }

  it.each([
    [repo, { secrets: 'write' }, null],
    [repo, { secrets: 'read' }, 'GitHub App 7 has only "Secrets: read-only"; give it the repository permission "Secrets: read and write"'],
    [env, { secrets: 'write' }, 'GitHub App 7 has no "Environments" permission'],
    [env, { secrets: 'write', environments: 'write' }, null],
    [org, { secrets: 'write' }, 'give it the organisation permission "Secrets: read and write"'],
    [org, { organization_secrets: 'write' }, null],
  ] as const)('a GitHub App: %j with %j', async (target, permissions, missing) => {
    const result = await inspectAsApp(target, permissions);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.existing).toEqual({ updatedAt: '2025-01-01T00:00:00Z' });
    if (missing === null) expect(result.missing).toBeNull();
    else expect(result.missing).toContain(missing);
  });

  it('a classic token: its scopes, and its account must have write access', async () => {
    const github = await new FakeGitHub(API).init();
    const store = createGitHubSecretStore({ apiUrl: API, auth: { kind: 'token', token: TOKEN }, octokitOptions: NO_RETRY });
    const serve = (scopes: string, push: boolean) => {
      nock(API).get('/repos/acme/api/actions/secrets/public-key').reply(200, { key_id: github.keyId, key: github.publicKeyBase64 }, { 'x-oauth-scopes': scopes });
      nock(API).get('/repos/acme/api').reply(200, { permissions: { admin: false, push, pull: true } });
      nock(API).get('/repos/acme/api/actions/secrets/JAMJET_API_KEY').reply(404, { message: 'Not Found' });
    };
    serve('read:org, workflow', true);
    expect(await store.inspect(repo)).toMatchObject({ ok: true, missing: expect.stringContaining('without the repo scope') });
    nock.cleanAll();
    serve('repo, read:org', false);
    expect(await store.inspect(repo)).toMatchObject({ ok: true, missing: expect.stringContaining('has only read access to acme/api') });
    nock.cleanAll();
    serve('repo', true);
    expect(await store.inspect(repo)).toEqual({ ok: true, existing: null, missing: null });
  });
});

describe('organisation reach', () => {
  it('rewrites a selected secret with every selected repository, across pages', async () => {
    const github = await new FakeGitHub(API).init();
    const target: SecretTarget = { kind: 'org', org: 'acme', secretName: 'JAMJET_API_KEY', visibility: 'private' };
    const ids = Array.from({ length: 130 }, (_, i) => 1000 + i);
    nock(API).get('/orgs/acme/actions/secrets/public-key').reply(200, { key_id: github.keyId, key: github.publicKeyBase64 });
    nock(API).get('/orgs/acme/actions/secrets/JAMJET_API_KEY').reply(200, { name: 'JAMJET_API_KEY', updated_at: 'x', visibility: 'selected' });
    nock(API)
      .get('/orgs/acme/actions/secrets/JAMJET_API_KEY/repositories')
      .query({ per_page: '100', page: '1' })
      .reply(200, { total_count: 130, repositories: ids.slice(0, 100).map((id) => ({ id })) });
    nock(API)
      .get('/orgs/acme/actions/secrets/JAMJET_API_KEY/repositories')
      .query({ per_page: '100', page: '2' })
      .reply(200, { total_count: 130, repositories: ids.slice(100).map((id) => ({ id })) });
    let put: Record<string, unknown> = {};
    nock(API)
      .put('/orgs/acme/actions/secrets/JAMJET_API_KEY', (b) => ((put = b as Record<string, unknown>), true))
      .reply(204);
    nock(API).get('/orgs/acme/actions/secrets/JAMJET_API_KEY').reply(200, { name: 'JAMJET_API_KEY', updated_at: '2026-01-01T00:00:00Z', visibility: 'selected' });
    const store = createGitHubSecretStore({ apiUrl: API, auth: { kind: 'token', token: TOKEN }, octokitOptions: NO_RETRY });
    expect(await store.write(target, VALUE)).toEqual({ ok: true, updatedAt: '2026-01-01T00:00:00Z' });
    expect(put.visibility).toBe('selected');
    expect(put.selected_repository_ids).toEqual(ids);
    expect(github.open(String(put.encrypted_value))).toBe(VALUE);
  });
});

describe('secret identity and precedence', () => {
  const spec = (kind: TargetSpec['kind'], owner: string, repo: string | null, environment: string | null, secretName = 'JAMJET_API_KEY'): TargetSpec => ({
    kind,
    owner,
    repo,
    environment,
    visibility: null,
    secretName,
  });

  it('compares owner, repository and environment without case, and names upper-cased', () => {
    expect(secretKey(spec('environment', 'Acme', 'App', 'Production', 'jamjet_api_key'))).toBe(secretKey(spec('environment', 'acme', 'app', 'production')));
  });

  it.each([
    [spec('environment', 'acme', 'app', 'prod'), spec('repo', 'acme', 'app', null), 'shadows'],
    [spec('repo', 'acme', 'app', null), spec('environment', 'ACME', 'APP', 'staging'), 'shadowed'],
    [spec('repo', 'acme', 'tools', null), spec('org', 'acme', null, null), 'shadows'],
    [spec('org', 'acme', null, null), spec('environment', 'acme', 'x', 'prod'), 'shadowed'],
    [spec('environment', 'acme', 'app', 'Prod'), spec('environment', 'acme', 'app', 'prod'), 'same'],
    [spec('repo', 'acme', 'app', null), spec('repo', 'acme', 'tools', null), null],
    [spec('environment', 'acme', 'app', 'prod'), spec('environment', 'acme', 'app', 'staging'), null],
    [spec('repo', 'acme', 'app', null), spec('org', 'other', null, null), null],
    [spec('repo', 'acme', 'app', null), spec('repo', 'acme', 'app', null, 'JAMJET_API_KEY_DEV'), null],
  ] as const)('%j meets %j: %s', (a, b, expected) => {
    expect(overlap(a, b)).toBe(expected);
  });
});

describe('GITHUB_WEB_URL', () => {
  const base = { SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1-A-b' };

  it('is github.com for api.github.com, and the GHES host without /api/v3', () => {
    expect(webUrlFor('https://api.github.com')).toBe('https://github.com');
    expect(webUrlFor('https://ghe.example.com/api/v3')).toBe('https://ghe.example.com');
    expect(parseConfig(base).github).toMatchObject({ webUrl: 'https://github.com', clientId: null });
    expect(parseConfig({ ...base, GITHUB_API_URL: 'https://ghe.example.com/api/v3/' }).github.webUrl).toBe('https://ghe.example.com');
    expect(parseConfig({ ...base, GITHUB_WEB_URL: 'http://127.0.0.1:9/', GITHUB_CLIENT_ID: 'Iv1.x' }).github).toMatchObject({
      webUrl: 'http://127.0.0.1:9',
      clientId: 'Iv1.x',
    });
    expect(() => parseConfig({ ...base, GITHUB_CLIENT_ID: 'has spaces' })).toThrow('GITHUB_CLIENT_ID should be the Client ID');
  });
});
