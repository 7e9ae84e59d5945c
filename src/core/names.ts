export const PROJECT_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{1,62}$/;

export const PROJECT_NAME_RULE =
  'Project names are 2 to 63 characters: lowercase letters, digits and dashes, starting with a letter or digit.';

export function isProjectName(name: string): boolean {
  return PROJECT_NAME_PATTERN.test(name);
}

const ENV_PATTERN = /^[a-z0-9][a-z0-9-]{0,19}$/;

/** `--envs dev,staging,prod` → ['dev', 'staging', 'prod'], or null when malformed. */
export function parseEnvList(text: string): string[] | null {
  const envs = text.split(',').map((e) => e.trim().toLowerCase());
  if (envs.length === 0 || envs.some((e) => !ENV_PATTERN.test(e))) return null;
  if (new Set(envs).size !== envs.length) return null;
  return envs;
}
