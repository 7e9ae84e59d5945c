/** GitHub App credentials: the installation token is fetched first and then used for the secret calls. */
import { generateKeyPairSync } from 'node:crypto';
import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGitHubSecretStore, type SecretTarget } from '../../src/github/index.ts';
import { countUnmatched, FakeGitHub, NO_RETRY, UPDATED_AT, VALUE } from './fake-github.ts';

const API = 'http://ghe.test/api/v3';
const INSTALLATION_TOKEN = 'ghs_' + 'I'.repeat(36);
const TARGET: SecretTarget = { kind: 'repo', owner: 'acme', repo: 'api', secretName: 'JAMJET_API_KEY' };
const { privateKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());

const appStore = (key = privateKey) =>
  createGitHubSecretStore({
    apiUrl: API,
    auth: { kind: 'app', appId: '42', privateKey: key, installationId: '123' },
    octokitOptions: NO_RETRY,
  });

/** Serves the installation token exchange and records its authorization header. */
function serveTokenExchange(status = 201): { authorization: string[] } {
  const seen = { authorization: [] as string[] };
  nock('http://ghe.test')
    .post('/api/v3/app/installations/123/access_tokens')
    .reply(function () {
      seen.authorization.push(this.req.headers.authorization ?? '');
      return status === 201
        ? [201, { token: INSTALLATION_TOKEN, expires_at: '2099-01-01T00:00:00Z', permissions: { secrets: 'write' } }]
        : [status, { message: 'A JSON web token could not be decoded' }];
    });
  return seen;
}

describe('GitHub App auth', () => {
  it('exchanges a JWT for an installation token and writes with it', async () => {
    const exchange = serveTokenExchange();
    const github = (await new FakeGitHub(API).init()).serve(TARGET);

    const result = await appStore().write(TARGET, VALUE);

    expect(result).toEqual({ ok: true, updatedAt: UPDATED_AT });
    expect(exchange.authorization).toHaveLength(1);
    expect(exchange.authorization[0]).toMatch(/^bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    expect(github.calls.map((c) => c.headers.authorization)).toEqual(Array(3).fill(`token ${INSTALLATION_TOKEN}`));
    expect(github.open(github.calls[1]!.body!.encrypted_value as string)).toBe(VALUE);
  });

  it('accepts a private key pasted with literal \\n', async () => {
    serveTokenExchange();
    const github = (await new FakeGitHub(API).init()).serve(TARGET);
    expect(await appStore(privateKey.replace(/\n/g, '\\n')).check(TARGET)).toEqual({ ok: true, updatedAt: '' });
    expect(github.calls[0]!.headers.authorization).toBe(`token ${INSTALLATION_TOKEN}`);
  });

  it.each([
    [401, 'unauthorized'],
    [404, 'not_found'],
  ] as const)('a %i from the token exchange names the App installation', async (status, code) => {
    serveTokenExchange(status);
    const unmatched = countUnmatched();
    const result = await appStore().write(TARGET, VALUE);
    unmatched.stop();
    expect(result).toMatchObject({ ok: false, code, status, retryable: false });
    expect(unmatched.count).toBe(0);
    if (result.ok) return;
    expect(result.message).toContain('GitHub App 42 installation 123');
    expect(result.message).not.toContain('PRIVATE KEY');
    expect(result.message).not.toContain(VALUE);
  });

  it('an unreadable private key is not_configured, with no HTTP request and no key in the message', async () => {
    const broken = '-----BEGIN RSA PRIVATE KEY-----\nnot-a-key\n-----END RSA PRIVATE KEY-----';
    const unmatched = countUnmatched();
    const result = await appStore(broken).write(TARGET, VALUE);
    unmatched.stop();
    expect(result).toMatchObject({ ok: false, code: 'not_configured', status: null, retryable: false });
    expect(unmatched.count).toBe(0);
    expect(result.ok || result.message).not.toContain('not-a-key');
  });
});
