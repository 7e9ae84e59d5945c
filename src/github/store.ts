/**
 * The real SecretStore: public key, sealed box, PUT with key_id, then a read
 * of the secret's metadata so the caller reports what GitHub actually holds.
 */
import { buildClient } from './client.ts';
import { endpointsFor } from './endpoints.ts';
import { failure, failureFrom, type Step } from './failures.ts';
import { describeTarget, targetProblem } from './names.ts';
import { sealForGitHub } from './seal.ts';
import type { GitHubSecretStoreOptions, SecretFailure, SecretStore, SecretTarget } from './types.ts';

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
      const put = await attempt(target, 'write', secrets, () => api.put(sealed, key.value.keyId));
      if (!put.ok) return put;
      const meta = await attempt(target, 'read_back', secrets, () => api.metadata());
      return meta.ok ? { ok: true, updatedAt: meta.value.updatedAt } : meta;
    },
  };
}
