/**
 * The three REST calls a secret write needs, per kind of target. Keeping the
 * per-kind parameter shapes here lets the store treat every target alike.
 * There is deliberately no delete: the bot never removes secrets.
 */
import type { Octokit } from '@octokit/rest';
import type { SecretTarget } from './types.ts';

export interface SecretEndpoints {
  publicKey(): Promise<{ keyId: string; key: string }>;
  put(encryptedValue: string, keyId: string): Promise<void>;
  /** The secret's metadata; GitHub never returns the value. */
  metadata(): Promise<{ updatedAt: string }>;
}

export function endpointsFor(octokit: Octokit, target: SecretTarget): SecretEndpoints {
  const { actions } = octokit.rest;
  const secret_name = target.secretName;
  switch (target.kind) {
    case 'repo': {
      const where = { owner: target.owner, repo: target.repo };
      return {
        publicKey: async () => keyOf((await actions.getRepoPublicKey(where)).data),
        put: async (encrypted_value, key_id) => {
          await actions.createOrUpdateRepoSecret({ ...where, secret_name, encrypted_value, key_id });
        },
        metadata: async () => updatedOf((await actions.getRepoSecret({ ...where, secret_name })).data),
      };
    }
    case 'environment': {
      // Octokit 22 addresses environments by owner/repo/environment_name;
      // older releases took a numeric repository_id instead.
      const where = { owner: target.owner, repo: target.repo, environment_name: target.environment };
      return {
        publicKey: async () => keyOf((await actions.getEnvironmentPublicKey(where)).data),
        put: async (encrypted_value, key_id) => {
          await actions.createOrUpdateEnvironmentSecret({ ...where, secret_name, encrypted_value, key_id });
        },
        metadata: async () => updatedOf((await actions.getEnvironmentSecret({ ...where, secret_name })).data),
      };
    }
    case 'org': {
      const where = { org: target.org };
      return {
        publicKey: async () => keyOf((await actions.getOrgPublicKey(where)).data),
        put: async (encrypted_value, key_id) => {
          await actions.createOrUpdateOrgSecret({ ...where, secret_name, encrypted_value, key_id, visibility: target.visibility });
        },
        metadata: async () => updatedOf((await actions.getOrgSecret({ ...where, secret_name })).data),
      };
    }
  }
}

const keyOf = (data: { key_id: string; key: string }) => ({ keyId: data.key_id, key: data.key });
const updatedOf = (data: { updated_at: string }) => ({ updatedAt: data.updated_at });
