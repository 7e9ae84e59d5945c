/**
 * Pure checks and wording for secret targets: what GitHub accepts, and how a
 * target is named to a person.
 */
import type { SecretTarget } from './types.ts';

const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** GitHub's rules: letters, digits and underscores, no leading digit, no GITHUB_ prefix (any case). */
export function isValidSecretName(name: string): boolean {
  return SECRET_NAME.test(name) && !/^github_/i.test(name);
}

// Owner and repository names are interpolated into URL paths; Octokit escapes
// them, but `.` and `..` survive escaping and would walk up the path.
const OWNER = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;
const REPO = /^[A-Za-z0-9._-]{1,100}$/;
const isDotPath = (s: string) => s === '.' || s === '..';

/** `name` with %XX escapes decoded once, or as it is when they are not valid UTF-8. */
function decoded(name: string): string {
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}

/**
 * Whether GitHub could read `name` only as the environment it spells: 1 to
 * 255 characters, no control characters, no space at either end (GitHub's
 * database ignores trailing spaces when it compares names), and no `.` or
 * `..` between slashes, plain or %-encoded, that a server decoding the path
 * would follow into another repository.
 */
export function isValidEnvironmentName(name: string): boolean {
  if (name.trim() !== name || name === '' || name.length > 255) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return false;
  return ![name, decoded(name)].some((n) => n.split(/[/\\]/).some(isDotPath));
}

const validEnvironment = isValidEnvironmentName;

/** One sentence naming what is wrong with the target, or null when GitHub could accept it. */
export function targetProblem(target: SecretTarget): string | null {
  if (!isValidSecretName(target.secretName)) {
    return `"${target.secretName}" is not a valid secret name: use letters, digits and underscores, not starting with a digit or GITHUB_.`;
  }
  if (target.kind === 'org') {
    return OWNER.test(target.org) ? null : `"${target.org}" is not a valid GitHub organisation name.`;
  }
  if (!OWNER.test(target.owner)) return `"${target.owner}" is not a valid GitHub owner name.`;
  if (!REPO.test(target.repo) || isDotPath(target.repo)) return `"${target.repo}" is not a valid GitHub repository name.`;
  if (target.kind === 'environment' && !validEnvironment(target.environment)) {
    return `"${target.environment}" is not a valid GitHub environment name.`;
  }
  return null;
}

/** e.g. "acme/api (repository secret JAMJET_API_KEY)". */
export function describeTarget(target: SecretTarget): string {
  switch (target.kind) {
    case 'repo':
      return `${target.owner}/${target.repo} (repository secret ${target.secretName})`;
    case 'environment':
      return `${target.owner}/${target.repo} environment ${target.environment} (secret ${target.secretName})`;
    case 'org':
      return `organisation ${target.org} (secret ${target.secretName}, visibility ${target.visibility})`;
  }
}
