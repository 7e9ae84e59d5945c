import { describe, expect, it } from 'vitest';
import { describeTarget, isValidSecretName } from '../../src/github/index.ts';
import { targetProblem } from '../../src/github/names.ts';

describe('secret names', () => {
  it.each(['JAMJET_API_KEY', 'jamjet_api_key', '_X', 'A1', 'MY_GITHUB_TOKEN', 'a'])('%s is valid', (name) => {
    expect(isValidSecretName(name)).toBe(true);
  });
  it.each(['', '1KEY', 'GITHUB_TOKEN', 'github_x', 'GitHub_', 'A-B', 'A B', 'KEY.NAME', 'KÉY', 'A\nB'])('%j is not', (name) => {
    expect(isValidSecretName(name)).toBe(false);
  });
});

describe('targets', () => {
  it('describes each kind of target', () => {
    expect(describeTarget({ kind: 'repo', owner: 'acme', repo: 'api', secretName: 'JAMJET_API_KEY' })).toBe(
      'acme/api (repository secret JAMJET_API_KEY)',
    );
    expect(
      describeTarget({ kind: 'environment', owner: 'acme', repo: 'api', environment: 'prod', secretName: 'JAMJET_API_KEY' }),
    ).toBe('acme/api environment prod (secret JAMJET_API_KEY)');
    expect(describeTarget({ kind: 'org', org: 'acme', secretName: 'JAMJET_API_KEY', visibility: 'private' })).toBe(
      'organisation acme (secret JAMJET_API_KEY, visibility private)',
    );
  });

  it('accepts names GitHub accepts', () => {
    expect(targetProblem({ kind: 'repo', owner: 'acme-inc', repo: 'api.v2_x', secretName: 'K' })).toBeNull();
    expect(targetProblem({ kind: 'environment', owner: 'a', repo: 'b', environment: 'Production EU', secretName: 'K' })).toBeNull();
    expect(targetProblem({ kind: 'org', org: 'acme', secretName: 'K', visibility: 'all' })).toBeNull();
  });

  it.each([
    [{ kind: 'repo', owner: 'acme', repo: 'api', secretName: 'GITHUB_X' }, 'not a valid secret name'],
    [{ kind: 'repo', owner: '-acme', repo: 'api', secretName: 'K' }, 'owner'],
    [{ kind: 'repo', owner: 'acme', repo: '..', secretName: 'K' }, 'repository'],
    [{ kind: 'repo', owner: 'acme', repo: 'a/b', secretName: 'K' }, 'repository'],
    [{ kind: 'environment', owner: 'acme', repo: 'api', environment: '..', secretName: 'K' }, 'environment'],
    [{ kind: 'environment', owner: 'acme', repo: 'api', environment: ' ', secretName: 'K' }, 'environment'],
    [{ kind: 'org', org: 'ac/me', secretName: 'K', visibility: 'all' }, 'organisation'],
  ] as const)('refuses %j naming the %s', (target, word) => {
    expect(targetProblem(target)).toContain(word);
  });
});
