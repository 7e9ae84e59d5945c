/**
 * Builds the Octokit client from the configured credentials. A missing or
 * unusable credential is an expected failure (the bot still runs; `github
 * link` explains what to set), so it comes back as a value.
 */
import { createPrivateKey } from 'node:crypto';
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import { redact } from '../core/secrets.ts';
import { failure } from './failures.ts';
import type { GitHubAuth, GitHubSecretStoreOptions, SecretFailure } from './types.ts';

export const NOT_CONFIGURED =
  'GitHub is not configured: set GITHUB_TOKEN (fine-grained, Secrets: write) or GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID.';

export type Client = { ok: true; octokit: Octokit; auth: GitHubAuth } | SecretFailure;

// Every failure becomes a SecretResult the caller reports, so Octokit's own
// per-request error lines would only duplicate it; warnings (deprecations,
// App token replication retries) still reach stderr.
const quietLog = { debug: () => {}, info: () => {}, warn: (message: unknown) => console.warn(redact(String(message))), error: () => {} };

/** A GitHub call that hangs must not hold a rotation forever; it fails and is retried. */
export const REQUEST_TIMEOUT_MS = 20_000;

function withTimeout(octokit: Octokit): Octokit {
  octokit.hook.before('request', (options) => {
    options.request = { ...options.request, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
  });
  return octokit;
}

export function buildClient(options: GitHubSecretStoreOptions): Client {
  const { auth } = options;
  if (!auth) return failure('not_configured', null, NOT_CONFIGURED);
  const base = { log: quietLog, userAgent: 'jamjet-slack-control-plane', ...options.octokitOptions, baseUrl: options.apiUrl };
  if (auth.kind === 'token') {
    return { ok: true, auth, octokit: withTimeout(new Octokit({ ...base, auth: auth.token })) };
  }
  // Keys pasted into .env often carry literal "\n"; PEM needs real newlines.
  const privateKey = auth.privateKey.includes('\\n') ? auth.privateKey.replace(/\\n/g, '\n') : auth.privateKey;
  if (!isPrivateKey(privateKey)) {
    return failure('not_configured', null, 'GITHUB_APP_PRIVATE_KEY is not a readable PEM private key: paste the key file GitHub generated for the App.');
  }
  const octokit = new Octokit({
    ...base,
    authStrategy: createAppAuth,
    auth: { appId: auth.appId, privateKey, installationId: auth.installationId },
  });
  return { ok: true, auth, octokit: withTimeout(octokit) };
}

function isPrivateKey(pem: string): boolean {
  try {
    return createPrivateKey(pem).asymmetricKeyType === 'rsa';
  } catch {
    return false;
  }
}
