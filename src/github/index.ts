/** GitHub Actions secret targets: the interface the app uses, and its real implementation. */
export type {
  GitHubAuth,
  GitHubSecretStoreOptions,
  SecretFailureCode,
  SecretResult,
  SecretStore,
  SecretTarget,
} from './types.ts';
export { describeTarget, isValidSecretName } from './names.ts';
export { createGitHubSecretStore } from './store.ts';
