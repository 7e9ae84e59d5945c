/**
 * The real SecretStore: public key, sealed box, PUT with key_id, then a read
 * of the secret's metadata so the caller reports what GitHub actually holds.
 */
import { buildClient } from './client.ts';
import { endpointsFor } from './endpoints.ts';
import { failure, failureFrom, type Step } from './failures.ts';
import { describeTarget, targetProblem } from './names.ts';
import { sealForGitHub } from './seal.ts';
import type { Octokit } from '@octokit/rest';
import type { GitHubAuth, GitHubSecretStoreOptions, SecretFailure, SecretStore, SecretTarget } from './types.ts';

type Attempt<T> = { ok: true; value: T } | SecretFailure;

export function createGitHubSecretStore(options: GitHubSecretStoreOptions): SecretStore {
  const client = buildClient(options);
  const auth = options.auth;
  const credentials = !auth ? [] : auth.kind === 'token' ? [auth.token] : [auth.privateKey];

  async function attempt<T>(target: SecretTarget, step: Step, secrets: string[], call: () => Promise<T>): Promise<Attempt<T>> {
    if (!client.ok) return client;
    try {
      return { ok: true, value: await call() };
    } catch (error) {
      return failureFrom(error, { target, step, auth: client.auth, secrets: [...credentials, ...secrets] });
    }
  }

  return {
    async check(target) {
      if (!client.ok) return client;
      const problem = targetProblem(target);
      if (problem) return failure('invalid', null, problem);
      const key = await attempt(target, 'public_key', [], () => endpointsFor(client.octokit, target).publicKey());
      return key.ok ? { ok: true, updatedAt: '' } : key;
    },

    async inspect(target) {
      if (!client.ok) return client;
      const problem = targetProblem(target);
      if (problem) return failure('invalid', null, problem);
      const api = endpointsFor(client.octokit, target);
      const key = await attempt(target, 'public_key', [], () => api.publicKey());
      if (!key.ok) return key;
      const missing = await attempt(target, 'public_key', [], () => missingPermission(client.octokit, client.auth, target, key.value.scopes));
      if (!missing.ok) return missing;
      const existing = await attempt(target, 'public_key', [], async () => {
        try {
          return await api.metadata();
        } catch (error) {
          if ((error as { status?: number }).status === 404) return null;
          throw error;
        }
      });
      if (!existing.ok) return existing;
      return { ok: true, existing: existing.value, missing: missing.value };
    },

    async write(target, value) {
      if (!client.ok) return client;
      const problem = targetProblem(target);
      if (problem) return failure('invalid', null, problem);
      const api = endpointsFor(client.octokit, target);
      const secrets = [value];

      const key = await attempt(target, 'public_key', secrets, () => api.publicKey());
      if (!key.ok) return key;
      const sealed = await sealForGitHub(key.value.key, value);
      if (sealed === null) {
        return failure('invalid', null, `GitHub returned a public key for ${describeTarget(target)} that is not a valid sealed-box key.`);
      }
      // An organisation secret keeps the reach its admins gave it: read it before every write.
      const reach = await attempt(target, 'public_key', secrets, () => api.orgReach());
      if (!reach.ok) return reach;
      const put = await attempt(target, 'write', secrets, () => api.put(sealed, key.value.keyId, reach.value));
      if (!put.ok) return put;
      const meta = await attempt(target, 'read_back', secrets, () => api.metadata());
      return meta.ok ? { ok: true, updatedAt: meta.value.updatedAt } : meta;
    },
  };
}

const LABEL = { secrets: 'Secrets', environments: 'Environments', organization_secrets: 'Secrets' } as const;

/**
 * The permission the bot's credential lacks to write `target`, as one
 * sentence, or null. A GitHub App's installation permissions come with its
 * installation token; a classic token's scopes come in `X-OAuth-Scopes`; a
 * token's account must have write access to the repository (GitHub's rule
 * for the secrets API; reading the organisation public key already needs an
 * organisation admin). A fine-grained token's own permissions are not
 * readable through the API: its Secrets permission shows at the first write.
 */
async function missingPermission(octokit: Octokit, auth: GitHubAuth, target: SecretTarget, scopes: string | null): Promise<string | null> {
  const where = target.kind === 'org' ? `organisation ${target.org}` : `${target.owner}/${target.repo}`;
  if (auth.kind === 'app') {
    const token = (await octokit.auth({ type: 'installation' })) as { permissions?: Record<string, string> };
    const granted = token.permissions ?? {};
    const needed: (keyof typeof LABEL)[] =
      target.kind === 'org' ? ['organization_secrets'] : target.kind === 'environment' ? ['secrets', 'environments'] : ['secrets'];
    for (const permission of needed) {
      if (granted[permission] === 'write') continue;
      const level = target.kind === 'org' ? 'organisation' : 'repository';
      const has = granted[permission] ? `only "${LABEL[permission]}: read-only"` : `no "${LABEL[permission]}" permission`;
      return `GitHub App ${auth.appId} has ${has}; give it the ${level} permission "${LABEL[permission]}: read and write" (and accept the change in its installation on ${where}).`;
    }
    return null;
  }
  if (scopes !== null) {
    const list = scopes.split(',').map((s) => s.trim());
    const scope = target.kind === 'org' ? 'admin:org' : 'repo';
    if (!list.includes(scope)) return `GITHUB_TOKEN is a classic token without the ${scope} scope, so it can read but not write secrets of ${where}; add the ${scope} scope or use a fine-grained token with "Secrets: read and write".`;
  }
  if (target.kind === 'org') return null;
  const { data } = await octokit.rest.repos.get({ owner: target.owner, repo: target.repo });
  if (data.permissions && !data.permissions.push) {
    return `the GitHub account of GITHUB_TOKEN has only read access to ${where}; GitHub lets only accounts with write access or above write its secrets.`;
  }
  return null;
}
