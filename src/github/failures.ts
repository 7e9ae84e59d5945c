/**
 * Turns whatever Octokit threw into a SecretResult with one sentence that
 * names what is missing. Messages are built from our own wording plus
 * GitHub's (sanitised) text, never from request bodies or headers, so the
 * secret value, token and private key cannot leak through them.
 */
import { redact } from '../core/secrets.ts';
import { describeTarget } from './names.ts';
import type { GitHubAuth, SecretFailure, SecretFailureCode, SecretTarget } from './types.ts';

export type Step = 'public_key' | 'write' | 'read_back';

export interface FailureContext {
  target: SecretTarget;
  step: Step;
  auth: GitHubAuth;
  /** Strings that must never appear in a message, even if GitHub echoes them. */
  secrets: readonly string[];
}

interface HttpError {
  status: number;
  response?: { headers?: Record<string, string | number | undefined>; data?: unknown };
  request?: { url?: string };
}

export const isHttpError = (error: unknown): error is HttpError =>
  typeof error === 'object' && error !== null && typeof (error as { status?: unknown }).status === 'number';

export function failure(code: SecretFailureCode, status: number | null, message: string): SecretFailure {
  return { ok: false, code, status, message, retryable: code === 'unavailable' };
}

export function failureFrom(error: unknown, ctx: FailureContext): SecretFailure {
  // Anything without an HTTP status is a bug in this module, not GitHub's answer.
  if (!isHttpError(error)) throw error;
  const result = classify(error, ctx);
  // After a successful PUT the new value is live; say so, or people rotate twice.
  if (ctx.step === 'read_back' && result.code !== 'not_found') result.message = `The secret was written, but ${result.message}`;
  return result;
}

function classify(error: HttpError, ctx: FailureContext): SecretFailure {
  const what = describeTarget(ctx.target);
  // Octokit reports a failed fetch (DNS, refused, reset) as 500 with no response.
  if (!error.response) return failure('unavailable', null, `GitHub could not be reached while ${doing(ctx.step)} ${what}; try again.`);
  const { status } = error;
  if (status >= 500 || status === 429 || isRateLimit(error)) {
    return failure('unavailable', status, `GitHub did not answer (HTTP ${status}) while ${doing(ctx.step)} ${what}; try again.`);
  }
  if (ctx.auth.kind === 'app' && /\/app\/installations\/[^/]+\/access_tokens$/.test(error.request?.url ?? '')) {
    const code = status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : status === 404 ? 'not_found' : 'invalid';
    return failure(code, status, `GitHub would not issue an installation token for GitHub App ${ctx.auth.appId} installation ${ctx.auth.installationId} (HTTP ${status}): check GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY, GITHUB_APP_INSTALLATION_ID and that the App is still installed.`);
  }
  if (status === 401) return failure('unauthorized', status, rejected(ctx.auth));
  if (status === 403) return failure('forbidden', status, `GitHub refused ${doing(ctx.step)} ${what}: ${permissionNeeded(ctx.target)}`);
  if (status === 404) {
    const message = ctx.step === 'read_back'
      ? `GitHub accepted ${what} but could not find it when reading it back; try again.`
      : missing(ctx.target);
    return failure('not_found', status, message);
  }
  const detail = githubMessage(error.response.data, ctx.secrets);
  return failure('invalid', status, `GitHub refused ${doing(ctx.step)} ${what} with HTTP ${status}${detail ? `: ${detail}` : ''}.`);
}

function doing(step: Step): string {
  return { public_key: 'reading the public key for', write: 'writing', read_back: 'reading back' }[step];
}

function rejected(auth: GitHubAuth): string {
  return auth.kind === 'token'
    ? 'GitHub rejected GITHUB_TOKEN (HTTP 401): it is wrong, expired or revoked.'
    : `GitHub rejected the credentials of GitHub App ${auth.appId} (HTTP 401): check GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and GITHUB_APP_INSTALLATION_ID.`;
}

// Fine-grained tokens and GitHub Apps name permissions; classic tokens name scopes.
function permissionNeeded(target: SecretTarget): string {
  switch (target.kind) {
    case 'repo':
      return `the token or GitHub App needs the repository permission "Secrets: read and write" on ${target.owner}/${target.repo} (classic tokens: the repo scope).`;
    case 'environment':
      return `the token or GitHub App needs the repository permissions "Secrets: read and write" and "Environments: read and write" on ${target.owner}/${target.repo} (classic tokens: the repo scope).`;
    case 'org':
      return `the token or GitHub App needs the organisation permission "Secrets: read and write" on ${target.org} (classic tokens: the admin:org scope).`;
  }
}

function missing(target: SecretTarget): string {
  switch (target.kind) {
    case 'repo':
      return `GitHub found no repository ${target.owner}/${target.repo}: it does not exist or the credentials cannot see it.`;
    case 'environment':
      return `GitHub found no environment ${target.environment} in ${target.owner}/${target.repo}: the repository or the environment does not exist, or the credentials cannot see it.`;
    case 'org':
      return `GitHub found no organisation ${target.org}: it does not exist or the credentials cannot see it.`;
  }
}

// A 403 can also be a primary or secondary rate limit, which passes with time.
function isRateLimit(error: HttpError): boolean {
  const headers = error.response?.headers ?? {};
  if (error.status !== 403) return false;
  if (String(headers['x-ratelimit-remaining']) === '0' || headers['retry-after'] !== undefined) return true;
  return /rate limit/i.test(githubMessage(error.response?.data, []));
}

/** GitHub's `message` and `errors[].message`, on one short line with secrets removed. */
export function githubMessage(data: unknown, secrets: readonly string[]): string {
  if (typeof data !== 'object' || data === null) return '';
  const body = data as { message?: unknown; errors?: unknown };
  const parts = [body.message, ...(Array.isArray(body.errors) ? body.errors : [])].map((p) =>
    typeof p === 'string' ? p : typeof p === 'object' && p !== null ? (p as { message?: unknown }).message : undefined,
  );
  let text = parts.filter((p): p is string => typeof p === 'string' && p.trim() !== '').join('; ');
  for (const secret of secrets) if (secret) text = text.split(secret).join('[redacted]');
  // GitHub's text is not ours: any other key or token in it is blanked too, before it is cut.
  text = redact(text);
  // eslint-disable-next-line no-control-regex
  text = text.replace(/[\u0000-\u001f\u007f<>]+/g, ' ').replace(/\s+/g, ' ').trim().replace(/\.$/, '');
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}
