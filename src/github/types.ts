/**
 * The narrow interface the rest of the app depends on to write GitHub Actions
 * secrets. Only `main.ts` builds the real one; tests and services may pass
 * recording fakes.
 */

export type SecretTarget =
  | { kind: 'repo'; owner: string; repo: string; secretName: string }
  | { kind: 'environment'; owner: string; repo: string; environment: string; secretName: string }
  | { kind: 'org'; org: string; secretName: string; visibility: 'all' | 'private' };

export type SecretFailureCode = 'not_configured' | 'unauthorized' | 'forbidden' | 'not_found' | 'invalid' | 'unavailable';

export type SecretResult =
  /** `updatedAt` is GitHub's `updated_at`, read back after the write. */
  | { ok: true; updatedAt: string }
  | { ok: false; code: SecretFailureCode; status: number | null; message: string; retryable: boolean };

export type SecretFailure = Extract<SecretResult, { ok: false }>;

/** What `inspect` learns about a target with the bot's own credential. */
export type Inspection =
  | {
      readonly ok: true;
      /** The secret as GitHub holds it now, or null when it does not exist. */
      readonly existing: { readonly updatedAt: string } | null;
      /**
       * Null when the credential can write there; otherwise one sentence
       * naming the permission that is missing.
       */
      readonly missing: string | null;
    }
  | SecretFailure;

export interface SecretStore {
  /** Verifies the target exists and the credentials can read its public key. */
  check(target: SecretTarget): Promise<SecretResult>;
  /**
   * Before a link: reads the public key, what the bot's credential may do
   * there (a GitHub App's installation permissions; a token's OAuth scopes
   * from `X-OAuth-Scopes` and its account's repository permission or
   * organisation role), and whether the secret exists (`GET .../secrets/{name}`).
   */
  inspect(target: SecretTarget): Promise<Inspection>;
  /**
   * Encrypts `value` with the target's public key (libsodium sealed box), PUTs it with key_id, then reads the secret's metadata back.
   * An organisation secret that exists keeps its visibility and selected repositories; `visibility` applies only when it is created.
   */
  write(target: SecretTarget, value: string): Promise<SecretResult>;
}

export type GitHubAuth =
  | { kind: 'token'; token: string }
  | { kind: 'app'; appId: string; privateKey: string; installationId: string };

export interface GitHubSecretStoreOptions {
  /** e.g. https://api.github.com or https://ghe.example.com/api/v3 (no trailing slash). */
  apiUrl: string;
  auth: GitHubAuth | null;
  /** Merged into the Octokit constructor options (log, request, retry, ...). */
  octokitOptions?: Record<string, unknown>;
}
