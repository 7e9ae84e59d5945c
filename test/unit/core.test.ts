import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/core/duration.ts';
import { isProjectName, parseEnvList } from '../../src/core/names.ts';
import { closest } from '../../src/core/suggest.ts';

describe('durations', () => {
  it.each([
    ['30s', 30],
    ['15m', 900],
    ['24h', 86_400],
    ['7d', 604_800],
    ['0s', 0],
  ])('%s is %i seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });
  it.each(['', '24', 'h', '1w', '-1h', '1.5h', '24 h', '10000000s'])('%j is not a duration', (text) => {
    expect(parseDuration(text)).toBeNull();
  });
  it('formats in the largest exact unit', () => {
    expect(formatDuration(86_400)).toBe('1d');
    expect(formatDuration(5400)).toBe('90m');
    expect(formatDuration(45)).toBe('45s');
  });
});

describe('project names', () => {
  it.each(['ab', 'payments', 'my-app-prod', '0x', 'a'.repeat(63)])('%s is valid', (n) => expect(isProjectName(n)).toBe(true));
  it.each(['a', '-ab', 'Ab', 'a_b', 'a.b', 'a'.repeat(64), '<!channel>'])('%s is not', (n) =>
    expect(isProjectName(n)).toBe(false),
  );
  it('reads environment lists', () => {
    expect(parseEnvList('dev,staging,prod')).toEqual(['dev', 'staging', 'prod']);
    expect(parseEnvList('dev,,prod')).toBeNull();
    expect(parseEnvList('dev,dev')).toBeNull();
  });
});

describe('suggestions', () => {
  it('finds the closest word', () => {
    expect(closest('projcts', ['projects', 'members', 'keys'])).toBe('projects');
    expect(closest('mem', ['projects', 'members', 'keys'])).toBe('members');
    expect(closest('zzzzzzzz', ['projects', 'members'])).toBeNull();
  });
});
