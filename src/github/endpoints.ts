/**
 * The REST calls a secret write needs, per kind of target. Keeping the
 * per-kind parameter shapes here lets the store treat every target alike.
 * There is deliberately no delete: the bot never removes secrets.
 */
import type { Octokit } from '@octokit/rest';
import type { SecretTarget } from './types.ts';

/** An organisation secret's reach, kept on every write (GitHub's `visibility` and `selected_repository_ids`). */
export interface OrgReach {
  readonly visibility: 'all' | 'private' | 'selected';
  readonly selectedRepositoryIds?: number[];
}

export interface SecretEndpoints {
  /** The public key, and the `X-OAuth-Scopes` header (present only for classic tokens and OAuth tokens). */
  publicKey(): Promise<{ keyId: string; key: string; scopes: string | null }>;
  put(encryptedValue: string, keyId: string, reach: OrgReach | null): Promise<void>;
  /** The secret's metadata; GitHub never returns the value. */
  metadata(): Promise<{ updatedAt: string }>;
  /** For organisation secrets: the current reach, or null when the secret does not exist. */
  orgReach(): Promise<OrgReach | null>;
}

const scopesOf = (headers: Record<string, unknown>) => {
  const value = headers['x-oauth-scopes'];
  return typeof value === 'string' ? value : null;
};

export function endpointsFor(octokit: Octokit, target: SecretTarget): SecretEndpoints {
  const { actions } = octokit.rest;
  const secret_name = target.secretName;
  const noReach = async () => null;
  switch (target.kind) {
    case 'repo': {
      const where = { owner: target.owner, repo: target.repo };
      return {
        publicKey: async () => keyOf(await actions.getRepoPublicKey(where)),
        put: async (encrypted_value, key_id) => {
          await actions.createOrUpdateRepoSecret({ ...where, secret_name, encrypted_value, key_id });
        },
        metadata: async () => updatedOf((await actions.getRepoSecret({ ...where, secret_name })).data),
        orgReach: noReach,
      };
    }
    case 'environment': {
      // Octokit 22 addresses environments by owner/repo/environment_name;
      // older releases took a numeric repository_id instead.
      const where = { owner: target.owner, repo: target.repo, environment_name: target.environment };
      return {
        publicKey: async () => keyOf(await actions.getEnvironmentPublicKey(where)),
        put: async (encrypted_value, key_id) => {
          await actions.createOrUpdateEnvironmentSecret({ ...where, secret_name, encrypted_value, key_id });
        },
        metadata: async () => updatedOf((await actions.getEnvironmentSecret({ ...where, secret_name })).data),
        orgReach: noReach,
      };
    }
    case 'org': {
      const where = { org: target.org };
      return {
        publicKey: async () => keyOf(await actions.getOrgPublicKey(where)),
        put: async (encrypted_value, key_id, reach) => {
          const visibility = reach?.visibility ?? target.visibility;
          await actions.createOrUpdateOrgSecret({
            ...where,
            secret_name,
            encrypted_value,
            key_id,
            visibility,
            ...(visibility === 'selected' ? { selected_repository_ids: reach?.selectedRepositoryIds ?? [] } : {}),
          });
        },
        metadata: async () => updatedOf((await actions.getOrgSecret({ ...where, secret_name })).data),
        orgReach: async () => {
          let secret;
          try {
            secret = (await actions.getOrgSecret({ ...where, secret_name })).data;
          } catch (error) {
            if ((error as { status?: number }).status === 404) return null;
            throw error;
          }
          if (secret.visibility !== 'selected') return { visibility: secret.visibility };
          // Paged until GitHub's total_count is reached: a server may hold fewer per page than asked for,
          // and writing a partial list would take the secret away from the repositories left out.
          const ids = new Set<number>();
          let total = 0;
          for (let page = 1; ; page++) {
            const { data } = await actions.listSelectedReposForOrgSecret({ ...where, secret_name, per_page: 100, page });
            total = data.total_count;
            const before = ids.size;
            for (const r of data.repositories) ids.add(r.id);
            // An empty page, or one that repeats the last (a server ignoring `page`), ends the list.
            if (ids.size === before || ids.size >= total) break;
          }
          if (ids.size !== total) {
            throw Object.assign(new Error(`GitHub listed ${ids.size} of the ${total} repositories selected for ${secret_name}; not written, so none loses it.`), {
              status: 502,
            });
          }
          return { visibility: 'selected', selectedRepositoryIds: [...ids] };
        },
      };
    }
  }
}

const keyOf = (res: { data: { key_id: string; key: string }; headers: Record<string, unknown> }) => ({
  keyId: res.data.key_id,
  key: res.data.key,
  scopes: scopesOf(res.headers),
});
const updatedOf = (data: { updated_at: string }) => ({ updatedAt: data.updated_at });
